//! Load and lookup cost of the route table.
//!
//! `load/*`: parse + validate + build of a canonical file with N routes, next to a raw
//! `serde_yaml::Value` parse of the same bytes (the floor). Target: ≤ 1.3 × the floor.
//! `lookup/*`: one lookup in a table of N routes. Target: 100k routes ≤ 2 × 10 routes.
//!
//! Run: cargo bench -p passthru-routes --bench routes

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use passthru_routes::{Method, RouteTable, RoutesFile};

/// A canonical file of `n` routes shaped like real pass-through tables: a subpath route per
/// service, some with a method split, headers and query defaults on a few.
fn table_yaml(n: usize) -> String {
    let mut yaml = String::from("version: 1\nroutes:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "- path: /svc-{i}/v{}\n  target: https://backend-{i}.internal:8443/base\n  include_subpath: true\n",
            i % 3
        ));
        if i % 4 == 0 {
            yaml.push_str("  methods: [GET, POST]\n");
        }
        if i % 5 == 0 {
            yaml.push_str(
                "  headers:\n    authorization: Bearer os.environ/BACKEND_KEY\n    x-team: blue\n",
            );
        }
        if i % 7 == 0 {
            yaml.push_str("  default_query_params: {api-version: '2024-02-01'}\n");
        }
    }
    // Canonical, as passthru-sync writes it: ids stamped, every field present.
    RoutesFile::parse(yaml.as_bytes()).unwrap().render()
}

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    for n in [100usize, 1_000, 10_000] {
        let yaml = table_yaml(n);
        group.throughput(Throughput::Bytes(yaml.len() as u64));
        group.bench_with_input(BenchmarkId::new("serde_yaml_value", n), &yaml, |b, yaml| {
            b.iter(|| {
                serde_yaml::from_slice::<serde_yaml::Value>(black_box(yaml.as_bytes())).unwrap()
            })
        });
        group.bench_with_input(
            BenchmarkId::new("parse_validate_build", n),
            &yaml,
            |b, yaml| {
                b.iter(|| RouteTable::new(RoutesFile::parse(black_box(yaml.as_bytes())).unwrap()))
            },
        );
    }
    group.finish();
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    for n in [10usize, 1_000, 100_000] {
        let table = RouteTable::new(RoutesFile::parse(table_yaml(n).as_bytes()).unwrap());
        // The same shape of request everywhere, spread over the whole table.
        let paths: Vec<String> = (0..256)
            .map(|k| {
                let i = (k * 7919) % n;
                format!("/svc-{i}/v{}/chat/completions", i % 3)
            })
            .collect();
        group.bench_with_input(BenchmarkId::from_parameter(n), &paths, |b, paths| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % paths.len();
                black_box(table.lookup(black_box(&paths[k]), Method::Post));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, load, lookup);
criterion_main!(benches);
