//! The bad inputs: what is put where routes.yaml should be, and what the proxy must say about each.

use std::io::Write;
use std::path::Path;

use passthru_tests::repo_root;
use passthru_tests::running_as_root;

/// What is put where routes.yaml should be.
pub(super) enum Bad {
    /// These bytes, written to a temp file and renamed over routes.yaml.
    Bytes(Vec<u8>),
    /// These bytes written in place (open, truncate, write), as a careless tool would.
    InPlace(Vec<u8>),
    /// A file generated at test time by this function (to keep 50+ MB out of git).
    Generated(fn(&Path)),
    Directory,
    SymlinkLoop,
    DanglingSymlink,
    /// A link to a character device.
    DevZero,
    /// A named pipe: opening one for reading blocks until a writer comes.
    Fifo,
    /// A file the proxy's user cannot read (mode 0000).
    Unreadable,
    Deleted,
}

pub(super) struct Case {
    pub(super) name: String,
    pub(super) bad: Bad,
    /// Every one of these must appear in what the proxy logs about this input.
    pub(super) expect: Vec<&'static str>,
}

fn case(name: &str, bad: Bad, expect: &[&'static str]) -> Case {
    Case {
        name: name.to_owned(),
        bad,
        expect: expect.to_vec(),
    }
}

fn bytes(name: &str, text: &str, expect: &[&'static str]) -> Case {
    case(name, Bad::Bytes(text.as_bytes().to_vec()), expect)
}

/// A good route plus `extra` (a YAML flow mapping's fields) as routes[1].
fn with_route(extra: &str) -> String {
    format!("version: 1\nroutes:\n- {{id: ok, path: /ok, target: 'http://h', auth: false}}\n- {{{extra}}}\n")
}

fn billion_laughs() -> String {
    let mut s = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        s.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    s.push_str("version: 1\nroutes: *i\n");
    s
}

fn huge_over_the_cap(path: &Path) {
    // One byte over the loader's 256 MiB cap. It is refused by its size before it is read, so a
    // sparse file will do.
    let f = std::fs::File::create(path).unwrap();
    f.set_len(passthru_proxy::routes_file::MAX_FILE_BYTES + 1)
        .unwrap();
}

fn huge_scalar(path: &Path) {
    // 50 MB: a valid header and one enormous unknown field, under the cap: it is parsed.
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"version: 1\nroutes: []\npadding: \"").unwrap();
    let chunk = "y".repeat(1 << 20);
    for _ in 0..50 {
        f.write_all(chunk.as_bytes()).unwrap();
    }
    f.write_all(b"\"\n").unwrap();
    f.flush().unwrap();
}

fn huge_invalid_utf8_at_the_end(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"version: 1\nroutes: []\n").unwrap();
    let line = format!("# {}\n", "z".repeat(1000));
    for _ in 0..50_000 {
        f.write_all(line.as_bytes()).unwrap();
    }
    f.write_all(b"# \xff\xfe\n").unwrap();
    f.flush().unwrap();
}

fn huge_many_routes_with_a_clash(path: &Path) {
    // ~50 MB of valid routes, with the last one clashing with the first: the whole table is
    // parsed and validated, then refused.
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"version: 1\nroutes:\n").unwrap();
    let pad = "p".repeat(400);
    let n = 110_000;
    for i in 0..n {
        writeln!(
            f,
            "- {{path: /r{i}, target: 'http://h/{pad}', auth: false}}"
        )
        .unwrap();
    }
    writeln!(
        f,
        "- {{id: dup, path: /r0, target: 'http://h/dup', auth: false}}"
    )
    .unwrap();
    f.flush().unwrap();
}

pub(super) fn corpus() -> Vec<Case> {
    let located_line: &[&'static str] = &["line "];
    let mut cases = vec![
        bytes("zero bytes", "", &["the file is empty"]),
        bytes("whitespace only", " \n\n\t\n", &["the file is empty"]),
        bytes("comments only", "# nothing\n", &["only comments"]),
        case("in-place truncation to zero bytes", Bad::InPlace(Vec::new()), &["the file is empty"]),
        bytes("version 2", "version: 2\nroutes: []\n", &["field `version`", "must be 1"]),
        bytes("version missing", "routes: []\n", &["field `version`", "missing"]),
        bytes("routes missing", "version: 1\n", &["field `routes`", "missing"]),
        bytes("routes a mapping", "version: 1\nroutes: {a: 1}\n", &["field `routes`", "must be a list"]),
        bytes("routes a number", "version: 1\nroutes: 5\n", &["field `routes`", "must be a list"]),
        bytes("document a scalar", "hello\n", &["must be a mapping"]),
        bytes("document a list", "- 1\n- 2\n", &["must be a mapping"]),
        bytes("two documents", "version: 1\nroutes: []\n---\nversion: 1\nroutes: []\n", &["more than one document"]),
        bytes("duplicate top-level key", "version: 1\nroutes: []\nroutes: []\n", &["duplicate entry with key \"routes\"", "line 3, column 1"]),
        bytes("duplicate route key", "version: 1\nroutes:\n- path: /a\n  path: /b\n  target: http://h\n", &["duplicate entry with key \"path\"", "line 4, column 3"]),
        bytes("duplicate ids", &with_route("id: ok, path: /other, target: 'http://h'"), &["routes[1]", "ids must be unique"]),
        bytes("conflicting routes", &with_route("path: /ok, target: 'http://h2'"), &["routes[1]", "answers"]),
        bytes("path a number", &with_route("path: 5, target: 'http://h'"), &["routes[1]", "field `path`", "must be a string"]),
        bytes("include_subpath a string", &with_route("path: /b, target: 'http://h', include_subpath: 'yes'"), &["routes[1]", "field `include_subpath`"]),
        bytes("methods a string", &with_route("path: /b, target: 'http://h', methods: GET"), &["routes[1]", "field `methods`"]),
        bytes("unknown method", &with_route("path: /b, target: 'http://h', methods: [FETCH]"), &["routes[1]", "not an HTTP method"]),
        bytes("timeout a duration string", &with_route("path: /b, target: 'http://h', timeout: 10s"), &["routes[1]", "field `timeout`"]),
        bytes("timeout zero", &with_route("path: /b, target: 'http://h', timeout: 0"), &["routes[1]", "field `timeout`"]),
        bytes("headers a list", &with_route("path: /b, target: 'http://h', headers: [a]"), &["routes[1]", "field `headers`"]),
        bytes("auth a number", &with_route("path: /b, target: 'http://h', auth: 1"), &["routes[1]", "field `auth`"]),
        bytes("unknown top-level field", "version: 1\nroutes: []\nroute: []\n", &["field `route`", "unknown field"]),
        bytes("misspelt route field", &with_route("path: /b, target: 'http://h', include_subpaths: true"), &["routes[1]", "did you mean `include_subpath`"]),
        bytes("LiteLLM-only field", &with_route("path: /b, target: 'http://h', cost_per_request: 1"), &["routes[1]", "does not implement"]),
        bytes("header value with CR LF", &with_route("path: /b, target: 'http://h', headers: {x-a: \"v\\r\\nx-injected: 1\"}"), &["routes[1]", "headers.x-a", "CR or LF"]),
        bytes("header value with NUL", &with_route("path: /b, target: 'http://h', headers: {x-a: \"v\\0\"}"), &["routes[1]", "control character"]),
        bytes("reserved header", &with_route("path: /b, target: 'http://h', headers: {Host: evil}"), &["routes[1]", "set by the proxy"]),
        bytes("target ftp", &with_route("path: /b, target: 'ftp://h'"), &["routes[1]", "field `target`", "only http and https"]),
        bytes("target with credentials", &with_route("path: /b, target: 'http://u:p@h'"), &["routes[1]", "credentials"]),
        bytes("path not normal", &with_route("path: /a/../b, target: 'http://h'"), &["routes[1]", "normal form"]),
        bytes("path with encoded slash", &with_route("path: /a%2Fb, target: 'http://h'"), &["routes[1]", "encoded '/'"]),
        bytes("bad key hash", "version: 1\nroutes: []\nkeys:\n- sha256: abc\n", &["keys[0]", "64 hex digits"]),
        bytes("tab indentation", "version: 1\nroutes:\n\t- path: /a\n", located_line),
        bytes("unclosed flow", "version: 1\nroutes: [{path: /a, target: http://h\n", located_line),
        bytes("unclosed quote", "version: 1\nroutes:\n- path: \"/a\n  target: http://h\n", located_line),
        bytes("custom tag", "version: 1\nroutes: !evil [1]\n", &["field `routes`"]),
        bytes("binary tag", "version: 1\nroutes: !!binary aGVsbG8=\n", &["field `routes`"]),
        bytes("billion laughs", &billion_laughs(), &["alias bomb"]),
        bytes("deep flow nesting", &format!("version: 1\nroutes: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)), &["nest deeper than 128 levels", "line 2, column 137"]),
        bytes("deep block nesting", &{
            let mut s = String::from("version: 1\nroutes:\n");
            for depth in 0..2_000 {
                s.push_str(&" ".repeat(depth));
                s.push_str("- \n");
            }
            s
        }, &["recursion limit"]),
        bytes("deep mapping nesting", &format!("version: 1\nroutes: []\nx: {}{}\n", "{a: ".repeat(50_000), "}".repeat(50_000)), &["nest deeper than 128 levels", "line 3, column "]),
        case("binary garbage", Bad::Bytes((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()), &["not UTF-8", "line "]),
        case("invalid UTF-8 on line 3", Bad::Bytes(b"version: 1\nroutes: []\n# caf\xe9\n".to_vec()), &["not UTF-8", "line 3, column 6"]),
        case("UTF-16 with a BOM", Bad::Bytes({
            let mut b = vec![0xff, 0xfe];
            for c in "version: 1\nroutes: []\n".encode_utf16() {
                b.extend_from_slice(&c.to_le_bytes());
            }
            b
        }), &["not UTF-8", "line 1, column 1"]),
        case("valid UTF-8 with NUL and control bytes", Bad::Bytes(b"version: 1\nroutes: [\x00\x01\x02]\n".to_vec()), located_line),
        case("a route truncated mid-entry", Bad::Bytes(b"version: 1\nroutes:\n- {id: ok, path: /ok, target: 'http://h', auth: false}\n- {id: b, path: /b, targ".to_vec()), located_line),
        case("a block route truncated mid-entry", Bad::Bytes(b"version: 1\nroutes:\n- id: ok\n  path: /ok\n  target: http://h\n  auth: false\n- id: b\n  path: /b\n  tar".to_vec()), &["line 10, column 1", "could not find expected ':'"]),
        case("a block route truncated after a field", Bad::Bytes(b"version: 1\nroutes:\n- id: ok\n  path: /ok\n  target: http://h\n  auth: false\n- id: b\n  path: /b\n".to_vec()), &["routes[1]", "field `target`", "missing"]),
        case("more than 256 MiB", Bad::Generated(huge_over_the_cap), &["larger than 256 MiB"]),
        case("50 MB scalar", Bad::Generated(huge_scalar), &["field `padding`", "unknown field"]),
        case("50 MB with invalid UTF-8 at the end", Bad::Generated(huge_invalid_utf8_at_the_end), &["not UTF-8", "line 50003, column 3"]),
        case("50 MB of routes, the last clashing", Bad::Generated(huge_many_routes_with_a_clash), &["routes[110000]", "answers"]),
        case("a directory", Bad::Directory, &["is not a regular file"]),
        case("a symlink loop", Bad::SymlinkLoop, &["cannot read", "symbolic links"]),
        case("a dangling symlink", Bad::DanglingSymlink, &["cannot read", "No such file"]),
        case("a link to /dev/zero", Bad::DevZero, &["is not a regular file"]),
        case("a named pipe", Bad::Fifo, &["is not a regular file"]),
        case("deleted", Bad::Deleted, &["cannot read", "No such file"]),
    ];
    if running_as_root() {
        // Needs the proxy to run as another user than the file's owner (setpriv, as root).
        cases.push(case(
            "permission denied",
            Bad::Unreadable,
            &["cannot read", "Permission denied"],
        ));
    }
    // The routes crate's own malformed corpus, through the running proxy.
    let dir = repo_root().join("crates/routes/tests/data/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        cases.push(case(
            &format!(
                "data/invalid/{}",
                file.file_name().unwrap().to_string_lossy()
            ),
            Bad::Bytes(std::fs::read(&file).unwrap()),
            &["routes file"],
        ));
    }
    cases
}
