//! The characters a person's name (and its pinyin transliteration) may hold, defined once for the whole project:
//! issuers refuse other names with [`check_name`], and verifiers show any name through [`escape_for_display`], so
//! a name that was signed elsewhere, under older rules, cannot hide or reorder what a checkpoint displays.
//!
//! A name is 1 to [`MAX_NAME_CHARS`] characters of:
//!
//! - **letters**: Chinese characters (CJK Unified Ideographs and Extensions A to I, and 〇 U+3007), Latin letters
//!   with or without diacritics (ASCII, Latin-1, Latin Extended-A and -B, Latin Extended Additional) and ASCII
//!   digits;
//! - **combining diacritical marks** (U+0300 to U+036F), each directly after a Latin letter or another mark, at
//!   most [`MAX_COMBINING_MARKS`] in a row (pinyin `ǚ` written as `u` + two marks);
//! - **separators**: space, hyphen `-`, apostrophe `'` or `’`, and the middle dot `·` (U+00B7) of minority and
//!   foreign names in Chinese characters (`买买提·艾力`), each between two letters: never first, last or doubled.
//!
//! Everything else is refused: control characters, bidirectional overrides and isolates (U+202A to U+202E,
//! U+2066 to U+2069, U+200E, U+200F, U+061C), zero-width and invisible characters (U+200B to U+200D, U+2060,
//! U+FEFF, U+00AD, variation selectors, tags), line and paragraph separators, other spaces (U+00A0, U+3000),
//! private-use characters, emoji, and every other script. No right-to-left character is allowed, so nothing in a
//! name can reorder what is shown around it.
//!
//! ```
//! use huren_wallet_core::name::{check_name, escape_for_display};
//!
//! assert!(check_name("买买提·艾力").is_ok());
//! assert!(check_name("Lǚ Xiǎo-Míng").is_ok());
//! // A right-to-left override turns "张三" followed by Latin text around on screen: refused, and shown escaped.
//! let spoof = "\u{202E}nahZ";
//! assert!(check_name(spoof).is_err());
//! assert_eq!(escape_for_display(spoof), "\\u{202E}nahZ");
//! ```

use std::fmt;

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Most combining marks in a row after a Latin letter (a vowel with a tone mark over an umlaut needs two).
pub const MAX_COMBINING_MARKS: usize = 2;

/// Why a name is refused. Positions count characters from 1; the character itself is named by its code point,
/// never shown raw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_CHARS`].
    TooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// A character no name may hold.
    Disallowed {
        /// Where it is (from 1).
        position: usize,
        /// The character.
        character: char,
    },
    /// A separator first, last or next to another separator.
    MisplacedSeparator {
        /// Where it is (from 1).
        position: usize,
        /// The separator.
        character: char,
    },
    /// A combining mark that does not follow a Latin letter, or one too many in a row.
    MisplacedMark {
        /// Where it is (from 1).
        position: usize,
        /// The mark.
        character: char,
    },
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => write!(f, "a name needs at least one letter"),
            NameProblem::TooLong { chars } => write!(f, "{chars} characters, more than {MAX_NAME_CHARS}"),
            NameProblem::Disallowed { position, character } => {
                write!(f, "character {position} ({}) is not allowed in a name", code_point(*character))
            }
            NameProblem::MisplacedSeparator { position, character } => write!(
                f,
                "character {position} ({}) must stand between two letters (not first, last or doubled)",
                code_point(*character)
            ),
            NameProblem::MisplacedMark { position, character } => write!(
                f,
                "character {position} ({}) is a combining mark not on a Latin letter, or more than \
                 {MAX_COMBINING_MARKS} in a row",
                code_point(*character)
            ),
        }
    }
}

impl std::error::Error for NameProblem {}

/// `U+202E`: a character named without showing it.
fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// What a character is to a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A Chinese character or a digit: no mark may follow it.
    Ideograph,
    /// A Latin letter: marks may follow it.
    Latin,
    /// A combining diacritical mark.
    Mark,
    /// Space, hyphen, apostrophe, middle dot.
    Separator,
    /// Anything else.
    Other,
}

/// Code point ranges (inclusive) of the Chinese characters a name may hold.
const IDEOGRAPHS: [(u32, u32); 11] = [
    (0x3007, 0x3007),   // 〇
    (0x3400, 0x4DBF),   // Extension A
    (0x4E00, 0x9FFF),   // CJK Unified Ideographs
    (0x20000, 0x2A6DF), // Extension B
    (0x2A700, 0x2B73F), // Extension C
    (0x2B740, 0x2B81F), // Extension D
    (0x2B820, 0x2CEAF), // Extension E
    (0x2CEB0, 0x2EBEF), // Extension F
    (0x2EBF0, 0x2EE5F), // Extension I
    (0x30000, 0x3134F), // Extension G
    (0x31350, 0x323AF), // Extension H
];

/// Code point ranges (inclusive) of the Latin letters beyond ASCII a name may hold.
const LATIN: [(u32, u32); 4] = [
    (0x00C0, 0x00FF), // Latin-1 letters (× and ÷ excluded below)
    (0x0100, 0x017F), // Latin Extended-A
    (0x0180, 0x024F), // Latin Extended-B
    (0x1E00, 0x1EFF), // Latin Extended Additional
];

fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
    let n = u32::from(c);
    ranges.iter().any(|&(low, high)| (low..=high).contains(&n))
}

fn class(c: char) -> Class {
    match c {
        ' ' | '-' | '\'' | '\u{2019}' | '\u{00B7}' => Class::Separator,
        'A'..='Z' | 'a'..='z' => Class::Latin,
        '0'..='9' => Class::Ideograph,
        '\u{00D7}' | '\u{00F7}' => Class::Other,
        '\u{0300}'..='\u{036F}' => Class::Mark,
        c if in_ranges(&LATIN, c) => Class::Latin,
        c if in_ranges(&IDEOGRAPHS, c) => Class::Ideograph,
        _ => Class::Other,
    }
}

/// Each character of `name` with what is wrong with it where it stands (`None`: it may stand there).
fn verdicts(name: &str) -> impl Iterator<Item = (char, Option<NameProblem>)> + '_ {
    let classes: Vec<Class> = name.chars().map(class).collect();
    // Marks in a row so far, after a Latin letter; `None` when the previous character takes no mark.
    let mut marks: Option<usize> = None;
    name.chars().enumerate().map(move |(i, character)| {
        let position = i + 1;
        let before = i.checked_sub(1).and_then(|b| classes.get(b)).copied();
        let after = classes.get(i + 1).copied();
        let letter = |c: Option<Class>| matches!(c, Some(Class::Ideograph | Class::Latin | Class::Mark));
        let problem = match classes.get(i).copied().unwrap_or(Class::Other) {
            Class::Ideograph => {
                marks = None;
                None
            }
            Class::Latin => {
                marks = Some(0);
                None
            }
            Class::Mark => match marks {
                Some(n) if n < MAX_COMBINING_MARKS => {
                    marks = Some(n + 1);
                    None
                }
                _ => Some(NameProblem::MisplacedMark { position, character }),
            },
            Class::Separator => {
                marks = None;
                let between_letters = letter(before) && matches!(after, Some(Class::Ideograph | Class::Latin));
                (!between_letters).then_some(NameProblem::MisplacedSeparator { position, character })
            }
            Class::Other => {
                marks = None;
                Some(NameProblem::Disallowed { position, character })
            }
        };
        (character, problem)
    })
}

/// Check that `name` is a name Huren issues (see the module documentation for the rule); the first problem
/// found otherwise. Pure: the same answer for the same text, everywhere.
pub fn check_name(name: &str) -> Result<(), NameProblem> {
    let chars = name.chars().count();
    if chars == 0 {
        return Err(NameProblem::Empty);
    }
    if chars > MAX_NAME_CHARS {
        return Err(NameProblem::TooLong { chars });
    }
    match verdicts(name).find_map(|(_, problem)| problem) {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// `name` as a checkpoint may show it: every character that [`check_name`] would refuse where it stands is
/// replaced by its escape `\u{XXXX}` (upper-case hex, at least four digits), so a bidirectional override, an
/// invisible character or a pile of combining marks is seen, not obeyed. A backslash is always escaped, so the
/// output cannot be mistaken for an escape it does not contain. A name that passes [`check_name`] comes back
/// unchanged. (Length is not a display matter: the verifier bounds text fields when decoding.)
pub fn escape_for_display(name: &str) -> String {
    let mut shown = String::with_capacity(name.len());
    for (character, problem) in verdicts(name) {
        match problem {
            None => shown.push(character),
            Some(_) => shown.push_str(&format!("\\u{{{:04X}}}", u32::from(character))),
        }
    }
    shown
}

/// Characters that hide, reorder or break the text around them: controls, bidirectional marks, overrides and
/// isolates, zero-width and other invisible format characters, line and paragraph separators, variation selectors,
/// tags, invisible fillers and private-use characters.
const HIDDEN: [(u32, u32); 28] = [
    (0x0000, 0x001F),
    (0x007F, 0x009F),
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
    (0xE000, 0xF8FF),
    (0xF0000, 0x10FFFF),
    (0xFDD0, 0xFDEF),
    (0xFFFE, 0xFFFF),
    (0x1FFFE, 0x1FFFF),
    (0x2FFFE, 0x2FFFF),
    (0x3FFFE, 0x3FFFF),
    (0x13430, 0x1343F),
    (0x110BD, 0x110BD),
];

/// Combining marks of the common blocks (diacritics, extended, supplement, for symbols, half marks).
const COMBINING: [(u32, u32); 5] =
    [(0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F)];

/// A name in any script, as a checkpoint may show it: only what can hide or reorder text is escaped (`\u{XXXX}`,
/// as [`escape_for_display`] writes it): the characters listed in `HIDDEN` (controls, bidirectional marks and
/// overrides, invisible format characters, separators, private use) and any combining mark past
/// [`MAX_COMBINING_MARKS`] in a row; a backslash is always escaped. Letters of every script stay as they are. For
/// names Huren did not issue (an EU DCC's native-script name, in Greek or Cyrillic, say); Huren's own names go
/// through [`escape_for_display`].
pub fn escape_hidden_for_display(name: &str) -> String {
    let mut shown = String::with_capacity(name.len());
    let mut marks = 0usize;
    for character in name.chars() {
        let mark = in_ranges(&COMBINING, character);
        marks = if mark { marks.saturating_add(1) } else { 0 };
        let hidden = in_ranges(&HIDDEN, character) || character == '\\' || marks > MAX_COMBINING_MARKS;
        if hidden {
            shown.push_str(&format!("\\u{{{:04X}}}", u32::from(character)));
        } else {
            shown.push(character);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_script_show_as_they_are_and_what_hides_text_is_escaped() {
        for name in ["Παπαδόπουλος", "Иванов Иван", "MÜLLER<ANNA", "Nguyễn", "張三", "Zha\u{0304}ng", "O'Brien"]
        {
            assert_eq!(escape_hidden_for_display(name), name);
        }
        assert_eq!(escape_hidden_for_display("\u{202E}vonavI"), "\\u{202E}vonavI");
        assert_eq!(escape_hidden_for_display("Iva\u{200B}nov\n"), "Iva\\u{200B}nov\\u{000A}");
        assert_eq!(escape_hidden_for_display("a\\b"), "a\\u{005C}b");
        assert_eq!(escape_hidden_for_display("\u{E000}"), "\\u{E000}");
        assert_eq!(
            escape_hidden_for_display("a\u{0301}\u{0301}\u{0301}\u{0301}"),
            "a\u{0301}\u{0301}\\u{0301}\\u{0301}"
        );
        // Nothing escape_hidden_for_display lets through is hidden from escape_for_display's rule either.
        for c in ['\u{2066}', '\u{2028}', '\u{FEFF}', '\u{E0041}', '\u{FE0F}', '\u{0007}', '\u{3164}'] {
            assert!(escape_hidden_for_display(&c.to_string()).starts_with("\\u{"), "{:04X}", u32::from(c));
            assert!(check_name(&c.to_string()).is_err());
        }
    }

    const ALLOWED: [&str; 22] = [
        "张三",
        "欧阳娜娜",
        "王〇",
        "𠀀𠀁",        // Extension B
        "𪚥",          // Extension B, four dragons
        "𰻞𰻞面",      // Extension G: biáng
        "\u{2EBF0}丽", // Extension I
        "买买提·艾力",
        "阿依古丽·买买提·托合提",
        "Zhāng Sān",
        "ZHANG San",
        "Lǚ Xiǎo-Míng",
        "Lu\u{0308}\u{030C}", // ǚ as u + two marks
        "Zha\u{0304}ng",
        "Jean-Luc Picard",
        "O'Brien",
        "O’Brien",
        "Nguyễn Thị Minh Khai",
        "Ærøskøbing Åse",
        "测试123",
        "keyed-0-17",
        "a",
    ];

    #[test]
    fn chinese_latin_and_pinyin_names_are_allowed_and_shown_unchanged() {
        for name in ALLOWED {
            assert_eq!(check_name(name), Ok(()), "{name}");
            assert_eq!(escape_for_display(name), name, "{name}");
        }
        assert_eq!(check_name(&"张".repeat(MAX_NAME_CHARS)), Ok(()));
    }

    #[test]
    fn spoofing_and_invisible_characters_are_refused_and_shown_escaped() {
        let cases: &[(&str, &str)] = &[
            ("\u{202E}nahZ", "\\u{202E}nahZ"),
            ("张\u{202D}三", "张\\u{202D}三"),
            ("张\u{2066}三\u{2069}", "张\\u{2066}三\\u{2069}"),
            ("a\u{200E}b", "a\\u{200E}b"),
            ("a\u{200F}b", "a\\u{200F}b"),
            ("a\u{061C}b", "a\\u{061C}b"),
            ("张\u{200B}三", "张\\u{200B}三"),
            ("a\u{200C}b", "a\\u{200C}b"),
            ("a\u{200D}b", "a\\u{200D}b"),
            ("a\u{2060}b", "a\\u{2060}b"),
            ("a\u{FEFF}b", "a\\u{FEFF}b"),
            ("a\u{00AD}b", "a\\u{00AD}b"),
            ("a\u{2028}b", "a\\u{2028}b"),
            ("a\u{2029}b", "a\\u{2029}b"),
            ("a\u{0000}b", "a\\u{0000}b"),
            ("a\nb", "a\\u{000A}b"),
            ("a\tb", "a\\u{0009}b"),
            ("a\u{007F}b", "a\\u{007F}b"),
            ("a\u{0085}b", "a\\u{0085}b"),
            ("\u{E000}", "\\u{E000}"),
            ("张\u{F8FF}", "张\\u{F8FF}"),
            ("\u{F0000}", "\\u{F0000}"),
            ("\u{10FFFD}", "\\u{10FFFD}"),
            ("a\u{00A0}b", "a\\u{00A0}b"),
            ("张\u{3000}三", "张\\u{3000}三"),
            ("葛\u{E0100}", "葛\\u{E0100}"),
            ("a\u{FE0F}", "a\\u{FE0F}"),
            ("a\u{E0041}", "a\\u{E0041}"),
            ("😀", "\\u{1F600}"),
            ("Аlice", "\\u{0410}lice"), // Cyrillic A
            ("a\\u{202E}", "a\\u{005C}u\\u{007B}202E\\u{007D}"),
            ("2×3", "2\\u{00D7}3"),
        ];
        for (name, shown) in cases {
            assert!(matches!(check_name(name), Err(NameProblem::Disallowed { .. })), "{shown}");
            assert_eq!(escape_for_display(name), *shown);
        }
    }

    #[test]
    fn separators_stand_between_letters_and_marks_stay_few() {
        let cases: &[(&str, &str)] = &[
            (" ", "\\u{0020}"),
            ("   ", "\\u{0020}\\u{0020}\\u{0020}"),
            (" 张三", "\\u{0020}张三"),
            ("张三 ", "张三\\u{0020}"),
            ("张  三", "张\\u{0020}\\u{0020}三"),
            ("·张三", "\\u{00B7}张三"),
            ("张三·", "张三\\u{00B7}"),
            ("张··三", "张\\u{00B7}\\u{00B7}三"),
            ("a--b", "a\\u{002D}\\u{002D}b"),
            ("a-'b", "a\\u{002D}\\u{0027}b"),
            ("'a", "\\u{0027}a"),
        ];
        for (name, shown) in cases {
            assert!(matches!(check_name(name), Err(NameProblem::MisplacedSeparator { .. })), "{shown}");
            assert_eq!(escape_for_display(name), *shown);
        }
        let marks: &[(&str, &str)] = &[
            ("\u{0301}a", "\\u{0301}a"),
            ("张\u{0301}", "张\\u{0301}"),
            ("1\u{0301}", "1\\u{0301}"),
            ("a \u{0301}b", "a\\u{0020}\\u{0301}b"),
            ("a\u{0301}\u{0301}\u{0301}", "a\u{0301}\u{0301}\\u{0301}"),
            ("Z\u{0336}\u{0336}\u{0336}\u{0336}\u{0336}", "Z\u{0336}\u{0336}\\u{0336}\\u{0336}\\u{0336}"),
        ];
        for (name, shown) in marks {
            assert!(check_name(name).is_err(), "{shown}");
            assert_eq!(escape_for_display(name), *shown);
        }
        assert_eq!(check_name(""), Err(NameProblem::Empty));
        assert_eq!(check_name(&"a".repeat(MAX_NAME_CHARS + 1)), Err(NameProblem::TooLong { chars: 65 }));
        let problem = check_name("张三\u{202E}").unwrap_err();
        assert_eq!(problem, NameProblem::Disallowed { position: 3, character: '\u{202E}' });
        assert!(!problem.to_string().contains('\u{202E}'), "the message names the character, never shows it");
        assert!(problem.to_string().contains("U+202E"));
    }

    /// Over every code point up to U+3100 and a sample beyond: a name passes exactly when it is shown unchanged,
    /// and what is shown never holds a character a name may not hold, outside escapes.
    #[test]
    fn the_check_and_the_display_agree_everywhere() {
        let sample = (0..0x3100).chain((0x3100..0x11_0000).step_by(97));
        for n in sample {
            let Some(c) = char::from_u32(n) else { continue };
            for name in [format!("a{c}b"), format!("{c}"), format!("张{c}"), format!("a{c}")] {
                let shown = escape_for_display(&name);
                assert_eq!(check_name(&name).is_ok(), shown == name, "U+{n:04X} in {shown}");
                let unescaped = shown.replace("\\u{", "").replace('}', "");
                let hidden = unescaped.chars().filter(|&c| class(c) == Class::Other).count();
                assert_eq!(hidden, 0, "U+{n:04X}: {shown}");
            }
        }
    }
}
