//! The preview lookup (`<prefix>--<slug>`, `<slug>@<prefix>`): which prefixes may reach D1 at
//! all, and the query that finds a ready deployment by id prefix (pure; `serve::site` runs it).

/// A project's ready deployments (`lifecycle::Status::READY`) whose id lies in `[?2, ?3)`, at
/// most two (an ambiguous prefix serves nothing). The range is a prefix match the
/// `deployments_ready_by_project` index (migrations/0010_preview_index.sql, a partial index on
/// exactly this status list) answers with one seek; `substr(id, 1, n) = ?` would scan every
/// deployment of the project. tests/integration/abuse.test.mjs reads SQLite's plan for it.
pub const PREVIEW_LOOKUP_SQL: &str = include_str!("preview_lookup.sql");

/// Shortest prefix looked up: the 8 characters of a `previewUrl` (shorter ones would let a
/// visitor enumerate deployments).
pub const MIN_PREVIEW_PREFIX: usize = 8;

/// The id range `[low, high)` holding exactly the ids that start with `prefix`, or `None` when
/// no deployment id could start with it (too short, or not lowercase hex and `-`, as UUIDs are):
/// then nothing is read. `high` is `prefix` with its last character raised by one, so every id
/// starting with `prefix` sorts inside (SQLite's BINARY collation compares bytes) and every
/// other id outside.
pub fn preview_prefix_range(prefix: &str) -> Option<(&str, String)> {
    let ok = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c) || c == b'-';
    if prefix.len() < MIN_PREVIEW_PREFIX || prefix.len() > 36 || !prefix.bytes().all(ok) {
        return None;
    }
    let (head, last) = prefix.split_at(prefix.len() - 1);
    let next = (last.as_bytes()[0] + 1) as char;
    Some((prefix, format!("{head}{next}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prefixes_a_deployment_id_could_have_are_looked_up() {
        for p in ["0a1b2c3", "", "0A1B2C3D", "0a1b2c3g", "staging", "0a1b2c3d/..", "0a1b2c3d%00"] {
            assert_eq!(preview_prefix_range(p), None, "{p:?}");
        }
        assert!(preview_prefix_range(&"a".repeat(37)).is_none(), "longer than a UUID");
        assert_eq!(preview_prefix_range("0a1b2c3d"), Some(("0a1b2c3d", "0a1b2c3e".to_string())));
        assert_eq!(preview_prefix_range("0a1b2c3-"), Some(("0a1b2c3-", "0a1b2c3.".to_string())));
        assert_eq!(preview_prefix_range("0a1b2c39"), Some(("0a1b2c39", "0a1b2c3:".to_string())));
    }

    #[test]
    fn the_range_holds_exactly_the_ids_that_start_with_the_prefix() {
        let ids = [
            "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "0a1b2c3d",
            "0a1b2c3c-ffff-4fff-bfff-ffffffffffff",
            "0a1b2c3e-0000-4000-8000-000000000000",
            "0a1b2c3",
            "0a1b2c3d-",
            "ffffffff-0000-4000-8000-000000000000",
        ];
        for prefix in ["0a1b2c3d", "0a1b2c3d-4e5f", "0a1b2c3c", "ffffffff-0000-4000-8000-000000000000"] {
            let (low, high) = preview_prefix_range(prefix).unwrap();
            for id in ids {
                let inside = id >= low && id < high.as_str();
                assert_eq!(inside, id.starts_with(prefix), "{prefix} vs {id}");
            }
        }
    }

    #[test]
    fn the_query_reads_only_ready_deployments_in_the_range() {
        let sql = PREVIEW_LOOKUP_SQL;
        assert!(sql.contains("status IN ('completed', 'superseded', 'rolled_back')"), "{sql}");
        let ready: Vec<&str> = crate::lifecycle::Status::READY.iter().map(|s| s.as_str()).collect();
        assert_eq!(ready, ["completed", "superseded", "rolled_back"], "the index and query name this set");
        assert!(sql.contains("id >= ?2 AND id < ?3") && sql.contains("LIMIT 2"));
        let migration = include_str!("../../migrations/0010_preview_index.sql");
        assert!(
            migration.contains("WHERE status IN ('completed', 'superseded', 'rolled_back')"),
            "the partial index's condition is the query's, word for word (SQLite matches it textually)"
        );
    }
}
