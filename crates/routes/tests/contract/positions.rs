//! Every problem of every file in the invalid corpus is reported at its exact line and column,
//! as `check` prints them (`FILE:LINE:COL`) for editors and CI annotators: at the value that is
//! wrong, at the key of a field that should not be there or a header name that is wrong, at the
//! second of two equal keys, and at the start of a route or of the document for what is missing.

use passthru_routes::RoutesFile;

use crate::data;

/// (file in tests/data/invalid, the (line, column) of each problem in the order reported)
const EXPECTED: &[(&str, &[(usize, usize)])] = &[
    ("alias_bomb", &[(1, 1)]),
    ("bad_id", &[(3, 9)]),
    ("bool_as_string", &[(5, 22)]),
    ("comments_only", &[(1, 1)]),
    ("conflict_all_methods", &[(7, 5)]),
    ("conflict_overlapping_methods", &[(7, 5)]),
    ("cors_credentials_with_any_origin", &[(2, 49)]),
    ("cors_origin_with_path", &[(5, 27), (5, 27)]),
    ("deep_flow_nesting", &[(3, 137)]),
    ("duplicate_derived_id", &[(5, 5)]),
    ("duplicate_explicit_id", &[(6, 5)]),
    ("duplicate_yaml_key", &[(5, 5)]),
    ("empty", &[(1, 1)]),
    ("header_bad_name", &[(6, 7)]),
    ("header_case_duplicate", &[(7, 7)]),
    ("header_crlf", &[(6, 15)]),
    ("header_env_not_at_end", &[(6, 22)]),
    ("header_reserved", &[(6, 7)]),
    ("headers_not_mapping", &[(5, 14)]),
    ("key_admin_not_bool", &[(5, 12)]),
    ("key_allow_not_list", &[(5, 12)]),
    ("key_allow_too_long", &[(5, 12)]),
    ("key_bad_expiry", &[(5, 14)]),
    ("key_deny_control_character", &[(5, 11)]),
    ("key_deny_entry_not_string", &[(5, 11)]),
    ("key_hash_duplicate", &[(5, 13)]),
    ("key_hash_not_hex", &[(4, 13)]),
    ("key_hash_short", &[(4, 13)]),
    ("key_unknown_field", &[(5, 5)]),
    ("litellm_only_field", &[(5, 5)]),
    ("many_problems", &[(5, 14), (3, 11), (4, 13), (8, 14)]),
    ("methods_not_list", &[(5, 14)]),
    ("missing_path", &[(3, 5)]),
    ("missing_routes", &[(1, 1)]),
    ("missing_target", &[(3, 5)]),
    ("missing_version", &[(1, 1)]),
    ("not_utf8", &[(5, 1)]),
    ("path_dot_segments", &[(3, 11)]),
    ("path_encoded_slash", &[(3, 11)]),
    ("path_parameter", &[(3, 11)]),
    ("path_trailing_slash", &[(3, 11)]),
    ("query_param_not_mapping", &[(5, 27)]),
    ("relative_path", &[(3, 11)]),
    ("route_not_mapping", &[(3, 5)]),
    ("routes_not_list", &[(3, 3)]),
    ("syntax_bad_indent", &[(4, 4)]),
    ("syntax_unclosed_flow", &[(4, 1)]),
    ("target_credentials", &[(4, 13)]),
    ("target_ftp", &[(4, 13)]),
    ("target_no_host", &[(4, 13)]),
    ("target_port_0", &[(4, 13)]),
    ("target_port_65536", &[(4, 13)]),
    ("target_port_99999", &[(4, 13)]),
    ("target_python_adapter", &[(4, 13)]),
    ("target_relative", &[(4, 13)]),
    ("timeout_negative", &[(5, 14)]),
    ("timeout_string", &[(5, 14)]),
    ("top_is_list", &[(1, 1)]),
    ("unknown_method", &[(5, 14)]),
    ("unknown_route_field", &[(5, 5)]),
    ("unknown_top_field", &[(2, 1)]),
    ("whitespace_only", &[(1, 1)]),
    ("wrong_version", &[(1, 10)]),
];

#[test]
fn every_problem_of_every_invalid_file_is_at_its_line_and_column() {
    let mut checked = 0;
    for (name, expected) in EXPECTED {
        let bytes = std::fs::read(data(&format!("invalid/{name}.yaml"))).unwrap();
        let problems = RoutesFile::parse(&bytes).expect_err("refused");
        let found: Vec<(usize, usize)> = problems
            .iter()
            .map(|p| {
                let at =
                    p.at.unwrap_or_else(|| panic!("{name}: no position for {p}"));
                (at.line, at.column)
            })
            .collect();
        assert_eq!(&found, expected, "{name}: {problems}");
        checked += 1;
    }
    assert!(checked >= 30, "{checked} files");
}

#[test]
fn every_file_of_the_invalid_corpus_has_its_positions_listed() {
    let listed: Vec<&str> = EXPECTED.iter().map(|(n, _)| *n).collect();
    for entry in std::fs::read_dir(data("invalid")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert!(
            listed.contains(&name.as_str()),
            "{name} has no expected positions"
        );
    }
}

#[test]
fn a_conflict_names_the_line_of_the_route_it_clashes_with() {
    let bytes = std::fs::read(data("invalid/conflict_overlapping_methods.yaml")).unwrap();
    let problems = RoutesFile::parse(&bytes).unwrap_err();
    let p = problems.iter().next().unwrap();
    assert!(
        p.message.contains("like routes[0] (id one) at line 3"),
        "{p}"
    );
}
