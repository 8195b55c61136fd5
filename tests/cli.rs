//! `passthru-proxy check` and `fmt`, the DB-less operator's tools.

use std::path::Path;
use std::process::{Command, Output};

use passthru_tests::{binary, repo_root};

fn proxy(args: &[&str]) -> Output {
    Command::new(binary("passthru-proxy"))
        .args(args)
        .env_remove("COHERE_API_KEY")
        .output()
        .expect("passthru-proxy runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn corpus(kind: &str) -> Vec<std::path::PathBuf> {
    let dir = repo_root().join("crates/routes/tests/data").join(kind);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn path_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn check_accepts_every_valid_example_and_prints_its_routes() {
    let mut files = corpus("valid");
    files.push(repo_root().join("examples/routes.yaml"));
    for file in files {
        let out = proxy(&["check", path_arg(&file)]);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            text(&out.stderr)
        );
        assert!(stdout.starts_with("ID "), "{stdout}");
        assert!(stdout.contains(": ok"), "{stdout}");
    }
}

#[test]
fn check_prints_the_routes_table_columns() {
    let out = proxy(&["check", path_arg(&repo_root().join("examples/routes.yaml"))]);
    let stdout = text(&out.stdout);
    let header = stdout.lines().next().unwrap();
    for column in ["ID", "METHODS", "PATH", "MATCH", "TARGET"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(stdout.contains("internal-health"), "{stdout}");
    assert!(stdout.contains("GET,HEAD"), "{stdout}");
}

#[test]
fn check_refuses_every_invalid_example_with_a_located_problem() {
    for file in corpus("invalid") {
        let out = proxy(&["check", path_arg(&file)]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", file.display());
        let first = stderr.lines().next().unwrap_or_default();
        let prefix = format!("{}:", file.display());
        let position = first.strip_prefix(&prefix).and_then(|rest| {
            let mut parts = rest.splitn(3, ':');
            let line = parts.next()?.parse::<usize>().ok()?;
            let column = parts.next()?.parse::<usize>().ok()?;
            parts.next()?.starts_with(' ').then_some((line, column))
        });
        assert!(
            position.is_some(),
            "problem lines name the file as FILE:LINE:COL: {first}"
        );
        let located = ["line ", "document", "field `", "routes[", "keys["];
        assert!(
            located.iter().any(|l| first.contains(l)),
            "{}: {first}",
            file.display()
        );
        assert!(out.stdout.is_empty(), "no table for a refused file");
    }
}

#[test]
fn check_reports_every_problem_in_one_run() {
    let file = repo_root().join("crates/routes/tests/data/invalid/many_problems.yaml");
    let out = proxy(&["check", path_arg(&file)]);
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.lines().filter(|l| l.contains("routes[")).count(),
        4,
        "{stderr}"
    );
    assert!(stderr.contains("4 problems"), "{stderr}");
}

#[test]
fn check_warns_about_an_unset_environment_reference() {
    let out = proxy(&["check", path_arg(&repo_root().join("examples/routes.yaml"))]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("os.environ/COHERE_API_KEY, which is not set here"));
}

#[test]
fn check_of_a_missing_file_names_it() {
    let out = proxy(&["check", "/nonexistent/routes.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/routes.yaml: cannot read"));
}

#[test]
fn check_of_a_directory_says_it_is_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = proxy(&["check", path_arg(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not a regular file"));
}

#[test]
fn fmt_rewrites_a_file_in_canonical_form_with_ids_stamped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(
        &file,
        "version: 1\nroutes:\n  - path: /my-service\n    target: http://backend:8080\n",
    )
    .unwrap();
    let out = proxy(&["fmt", path_arg(&file)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("id: auto-64ec647a7877a6c4"), "{written}");
    assert!(proxy(&["fmt", "--check", path_arg(&file)]).status.success());
}

#[test]
fn fmt_check_fails_on_a_file_that_is_not_canonical_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    let original = "version: 1\nroutes: [{path: /a, target: 'http://x'}]\n";
    std::fs::write(&file, original).unwrap();
    let out = proxy(&["fmt", "--check", path_arg(&file)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not in canonical form"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
}

#[test]
fn fmt_of_a_canonical_file_does_not_touch_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, "version: 1\nroutes: []\n").unwrap();
    let before = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = proxy(&["fmt", path_arg(&file)]);
    assert!(text(&out.stdout).contains("already canonical"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        before
    );
}

#[test]
fn fmt_refuses_an_invalid_file_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(
        &file,
        "version: 1\nroutes:\n  - path: api\n    target: http://x\n",
    )
    .unwrap();
    let out = proxy(&["fmt", path_arg(&file)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("routes[0] (path api) field `path`"));
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("path: api"));
}
