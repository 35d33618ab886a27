use serde_json::json;

use super::*;

fn q(position: i64, anchor: Option<&str>, anchor_offset: i64, limit: Option<u64>) -> QueryArgs {
    QueryArgs {
        account_id: "A1".into(),
        filter: None,
        sort: Vec::new(),
        position,
        anchor: anchor.map(Into::into),
        anchor_offset,
        limit,
        calculate_total: false,
    }
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("i{i}")).collect()
}

#[test]
fn window_position_and_limit() {
    let w = q(1, None, 0, Some(2)).window(&ids(5), 100).unwrap();
    assert_eq!(
        (w.position, w.ids.clone(), w.limit),
        (1, vec!["i1".into(), "i2".into()], None)
    );
    // Negative positions count from the end and clamp at 0.
    assert_eq!(
        q(-2, None, 0, None).window(&ids(5), 100).unwrap().ids,
        ["i3", "i4"]
    );
    assert_eq!(
        q(-9, None, 0, None).window(&ids(5), 100).unwrap().position,
        0
    );
    // Past the end: no ids.
    assert!(q(7, None, 0, None)
        .window(&ids(5), 100)
        .unwrap()
        .ids
        .is_empty());
}

#[test]
fn anchor_overrides_position_and_clamps() {
    let w = q(4, Some("i3"), -1, Some(2)).window(&ids(5), 100).unwrap();
    assert_eq!(
        (w.position, w.ids),
        (2, vec!["i2".to_string(), "i3".to_string()])
    );
    assert_eq!(
        q(0, Some("i1"), -5, Some(1))
            .window(&ids(5), 100)
            .unwrap()
            .ids,
        ["i0"]
    );
    let e = q(0, Some("zz"), 0, None).window(&ids(5), 100).unwrap_err();
    assert_eq!(e.kind, MethodErrorType::AnchorNotFound);
}

#[test]
fn server_cap_on_limit_is_reported() {
    let w = q(0, None, 0, Some(50)).window(&ids(20), 10).unwrap();
    assert_eq!((w.ids.len(), w.limit), (10, Some(10)));
    let w = q(0, None, 0, None).window(&ids(20), 10).unwrap();
    assert_eq!(w.limit, Some(10));
}

#[test]
fn filter_trees_parse_strictly() {
    let f = Filter::parse(json!({"operator": "OR", "conditions": [
        {"text": "a"}, {"operator": "NOT", "conditions": [{"text": "b"}]}]}))
    .unwrap();
    let mut seen = 0;
    f.check_conditions(&mut |_| {
        seen += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, 2);
    for bad in [
        json!({"operator": "and", "conditions": []}),
        json!({"operator": "AND"}),
        json!({"operator": "AND", "conditions": {}}),
        json!({"operator": "AND", "conditions": [], "text": "x"}),
        json!({"operator": "AND", "conditions": [5]}),
        json!([]),
    ] {
        assert_eq!(
            Filter::parse(bad.clone()).unwrap_err().kind,
            MethodErrorType::InvalidArguments,
            "{bad}"
        );
    }
    let mut deep = json!({"text": "x"});
    for _ in 0..=MAX_FILTER_DEPTH {
        deep = json!({"operator": "NOT", "conditions": [deep]});
    }
    assert_eq!(
        Filter::parse(deep).unwrap_err().kind,
        MethodErrorType::UnsupportedFilter
    );
}
