//! `Verified<T>`: a document whose signatures checked out. Only this crate's verification functions make one.

use std::ops::Deref;

/// A document that passed signature verification (and the rules of its kind). The constructor is private to this
/// crate, so holding a `Verified<T>` proves the checks ran; it dereferences to the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T> {
    document: T,
    bytes: Vec<u8>,
}

impl<T> Verified<T> {
    pub(crate) fn new(document: T, bytes: Vec<u8>) -> Self {
        Verified { document, bytes }
    }

    /// The signed bytes the document was verified from (what a store persists and a mirror serves).
    pub fn signed_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The document itself, giving up the proof (for state that evolves from it, such as a status list that
    /// verified deltas update).
    pub fn into_document(self) -> T {
        self.document
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.document
    }
}
