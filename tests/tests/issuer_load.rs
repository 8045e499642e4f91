//! The issuer's load and fault test, short: `huren-issuer-load` runs 8 clients for 20 seconds against the real
//! server on PostgreSQL (issuing with and without idempotency keys and in bulk, revoking, reading) while the server
//! is killed, stopped and restarted and its database connections are cut. Its own checks (nothing acknowledged
//! lost, no duplicate, every credential verified and audited once, the audit chain intact) must pass, every fault
//! must have happened, and no request may have got a 500: a lost database is a 503 the client retries, and a
//! commit whose answer was lost is settled before the client is answered. The long run's figures are in
//! docs/PERFORMANCE.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn restarts_and_cut_database_connections_lose_nothing_acknowledged() {
    let out = Command::new(env!("CARGO_BIN_EXE_huren-issuer-load"))
        .args(["--seconds", "20", "--clients", "8", "--restart-every", "6", "--cut-every", "4", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["ok"], true, "{report:#}");
    for check in report["checks"].as_array().unwrap() {
        assert_eq!(check["failures"], 0, "{check}");
    }
    let restarts: Vec<&str> = report["restarts"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(restarts.contains(&"SIGKILL") && restarts.contains(&"SIGTERM"), "{restarts:?}");
    assert!(report["connection_cuts"].as_u64().unwrap() >= 3, "{report}");
    assert!(report["connections_cut"].as_u64().unwrap() >= 1, "{report}");
    assert!(report["acknowledged"]["issued"].as_u64().unwrap() >= 200, "{report}");
    assert!(report["acknowledged"]["revoked"].as_u64().unwrap() >= 20, "{report}");
    for kind in ["keyed", "without key", "bulk line"] {
        assert!(report["acknowledged"]["issued_by_kind"][kind].as_u64().unwrap_or(0) > 0, "{kind}: {report}");
    }
    let errors = report["errors"].as_object().unwrap();
    assert!(errors.keys().all(|kind| !kind.contains("HTTP 500")), "{errors:?}");
    assert_eq!(report["server_errors"], 0, "{report}");
}
