//! Upgrades of a database that an older release left, on both backends: rows written before a migration keep
//! working sensibly after it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use huren_issuer::storage::Database;
use huren_keys::status::StatusList;

use crate::service::{postgres_url, Backend};

/// Where a test database lives, to remove it afterwards.
enum Place {
    Dir(std::path::PathBuf),
    Schema(String),
}

async fn admin() -> sqlx::PgPool {
    let Database::Postgres(admin) = Database::connect_postgres(&postgres_url(), None).await.unwrap() else {
        unreachable!()
    };
    admin
}

/// A database migrated up to `version`, as an older release left it.
async fn older(name: &str, backend: Backend, version: i64) -> (Database, Place) {
    let (db, place) = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("huren-upgrade-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            (Database::open_sqlite(&dir.join("issuer.db")).await.unwrap(), Place::Dir(dir))
        }
        Backend::Postgres => {
            let schema = format!("huren_upgrade_{name}_{}", std::process::id());
            let admin = admin().await;
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&admin).await.unwrap();
            sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.unwrap();
            (Database::connect_postgres(&postgres_url(), Some(&schema)).await.unwrap(), Place::Schema(schema))
        }
    };
    db.migrate_to(version).await.unwrap();
    (db, place)
}

async fn clean(place: Place) {
    match place {
        Place::Dir(dir) => std::fs::remove_dir_all(&dir).unwrap(),
        Place::Schema(schema) => {
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin().await).await.unwrap();
        }
    }
}

/// Run `sql` with its parameters bound as i64 or text.
async fn exec(db: &Database, sql: &str, params: &[Param<'_>]) {
    macro_rules! run {
        ($pool:expr) => {{
            let mut query = sqlx::query(sql);
            for p in params {
                query = match p {
                    Param::Int(n) => query.bind(*n),
                    Param::Text(t) => query.bind(*t),
                    Param::Bytes(b) => query.bind(*b),
                };
            }
            query.execute($pool).await.unwrap();
        }};
    }
    match db {
        Database::Sqlite { writer, .. } => run!(writer),
        Database::Postgres(pool) => run!(pool),
    }
}

enum Param<'a> {
    Int(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
}

async fn status_lists_of_an_older_release_are_assigned_to_their_provinces(backend: Backend) {
    use Param::{Bytes, Int, Text};
    let (db, place) = older("lists", backend, 5).await;
    // As release 5 left a shared database: Guangdong's block 1 of list 1 with a credential in it, a block 7
    // reserved by a node that issued nothing from it, and Guangdong's version 3 of list 1.
    let credential = "INSERT INTO credentials (id, province, kind, issued_at, expires_at, cose, status, status_list, \
                      status_index) VALUES ($1, $2, 'health-status', 1, 2, $3, 'revoked', 1, $4)";
    exec(&db, credential, &[Bytes(&[1; 8]), Text("CN-GD"), Bytes(&[0xd2]), Int(5000)]).await;
    let block = "INSERT INTO status_blocks (list_id, block, node, reserved_at) VALUES (1, $1, 'node-1', 1)";
    exec(&db, block, &[Int(1)]).await;
    exec(&db, block, &[Int(7)]).await;
    let key = huren_keys::SigningKey::generate().unwrap();
    let document = StatusList::new("CN-GD", 1, 8192, 1_790_000_000, 3600).unwrap().sign(&key).unwrap();
    let publication =
        "INSERT INTO status_publications (list_id, version, issued_at, document) VALUES (1, 3, 1790000000, $1)";
    exec(&db, publication, &[Bytes(&document)]).await;

    db.migrate().await.unwrap();
    // Block 1 is Guangdong's; block 7's owner is unknown, so it is taken for every province.
    let mut gd = db.status_blocks("CN-GD", 1).await.unwrap();
    gd.sort_unstable();
    assert_eq!(gd, [1, 7]);
    assert_eq!(db.status_blocks("CN-HB", 1).await.unwrap(), [7]);
    assert_eq!(db.status_lists("CN-GD").await.unwrap(), [1]);
    assert_eq!(db.status_lists("CN-HB").await.unwrap(), Vec::<u32>::new());
    assert_eq!(db.non_valid_in_list("CN-GD", 1).await.unwrap().len(), 1);
    assert!(db.non_valid_in_list("CN-HB", 1).await.unwrap().is_empty());
    // The publication is Guangdong's (its document says so): the next version follows it, Hubei has none.
    assert_eq!(db.publication("CN-GD", 1, None).await.unwrap(), Some(document.clone()));
    assert_eq!(db.publication("CN-HB", 1, None).await.unwrap(), None);
    assert!(!db.insert_publication("CN-GD", 1, 3, 1, b"x").await.unwrap(), "version 3 is taken");
    assert!(db.insert_publication("CN-HB", 1, 1, 1, b"x").await.unwrap(), "Hubei's list 1 is its own");
    // Two provinces may now use the same place in their own lists.
    assert!(db.reserve_status_block("CN-HB", 1, 1, "hb-1", 2).await.unwrap());
    assert!(!db.reserve_status_block("CN-GD", 1, 1, "gd-2", 2).await.unwrap());
    db.migrate().await.unwrap();
    assert_eq!(db.publication("CN-GD", 1, Some(3)).await.unwrap(), Some(document), "idempotent");
    clean(place).await;
}

async fn idempotency_keys_of_an_older_release_answer_only_their_own_request(backend: Backend) {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    const T0: i64 = 1_790_000_000;

    let (db, place) = older("idem", backend, 6).await;
    let dir = std::env::temp_dir().join(format!("huren-upgrade-idem-{backend:?}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let province = huren_issuer::Province::init(&dir, "CN-GD", T0 - 100, &Default::default()).unwrap();
    let token = huren_issuer::auth::create_token(&db, huren_issuer::auth::Role::Issuer, "CN-GD", T0).await.unwrap();
    let token_id = token.strip_prefix("hrt_").unwrap().split_once('.').unwrap().0.to_string();
    // As release 6 stored a keyed issuance: the credential, and the key without any request digest.
    let request: huren_issuer::IssueRequest = serde_json::from_str(crate::service::REQUEST).unwrap();
    let issued = province.issue(&request, T0).unwrap();
    let c = &issued.credential;
    let record = huren_issuer::storage::StoredCredential {
        id: c.id.clone(),
        province: c.issuer.clone(),
        kind: c.credential_type().name().into(),
        issued_at: c.issued_at,
        expires_at: c.expires_at,
        cose: issued.cose.clone(),
        status: huren_issuer::storage::CredentialStatus::Valid,
        status_reason: None,
        status_changed_at: None,
        status_ref: None,
    };
    db.insert_issued(&[record], &token_id).await.unwrap();
    let key = "INSERT INTO idempotency_keys (token_id, key, credential_id, created_at) VALUES ($1, 'old-key', $2, 1)";
    exec(&db, key, &[Param::Text(&token_id), Param::Bytes(&c.id)]).await;

    db.migrate().await.unwrap();
    let state = huren_issuer::service::AppState::with_clock(province, db.clone(), Box::new(|| T0 + 60));
    let post = |body: String| {
        let (state, token) = (state.clone(), token.clone());
        async move {
            let request = Request::builder()
                .method("POST")
                .uri("/v1/credentials")
                .header("authorization", format!("Bearer {token}"))
                .header("idempotency-key", "old-key")
                .body(Body::from(body))
                .unwrap();
            let response = huren_issuer::service::app(state).oneshot(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<serde_json::Value>(&body).unwrap())
        }
    };
    // The same request: the credential issued then. Another person's: refused, nothing issued.
    let (status, replayed) = post(crate::service::REQUEST.into()).await;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["id"], huren_keys::hex(&c.id).as_str());
    let other = r#"{"subject": {"name": "李四", "masked_id": "4201**********0002"},
        "body": {"type": "health-status", "colour": "green", "reason": "no-risk"}, "valid_for_hours": 24}"#;
    let longer = crate::service::REQUEST.replace("\"valid_for_hours\": 24", "\"valid_for_hours\": 25");
    for body in [other.to_string(), longer] {
        let (status, problem) = post(body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
    }
    let issues = db.audit_log().await.unwrap().iter().filter(|e| e.action == "issue").count();
    assert_eq!(issues, 1);
    std::fs::remove_dir_all(&dir).unwrap();
    clean(place).await;
}

on_both_backends!(
    status_lists_of_an_older_release_are_assigned_to_their_provinces,
    idempotency_keys_of_an_older_release_answer_only_their_own_request,
);
