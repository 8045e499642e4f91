// The wasm build's answers for the differential test (tests/tests/web_differential.rs): a verifier provisioned and
// fed as the native store was, then `huren-verifier verify --json`'s line for every code of an NDJSON file.
//
//   node web/tests/verify-all.mjs PKG ROOT PROVISION_AT BUNDLE BUNDLE_AT STATUS STATUS_AT DCC_TRUST CODES NOW
//
// PKG is the wasm-bindgen `--target nodejs` output (target/web/node); CODES holds one JSON string per line, labelled
// `CODES:line` as the CLI labels the lines of an NDJSON file.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [pkg, root, provisionAt, bundle, bundleAt, status, statusAt, dccTrust, codes, now] = process.argv.slice(2);
const { Verifier } = createRequire(import.meta.url)(`${pkg}/huren_web.js`);

const verifier = Verifier.provision(readFileSync(root), Number(provisionAt));
verifier.import_bundle(readFileSync(bundle), Number(bundleAt));
verifier.import_status_list(readFileSync(status), Number(statusAt));
verifier.set_dcc_trust(readFileSync(dccTrust, 'utf8'));
// What the page does on every start: save, and start again from the save (every document verified again).
const restored = Verifier.restore(verifier.save());

const lines = readFileSync(codes, 'utf8').split('\n');
const out = [];
lines.forEach((line, i) => {
  if (line.trim() === '') return;
  out.push(restored.verify_report(`${codes}:${i + 1}`, JSON.parse(line), Number(now)));
});
process.stdout.write(out.join('\n') + '\n');
