//! `rampart firewall` (NC-2.3.1, NC-2.3.3, NC-2.4.2): the printed ruleset passes Debian's
//! `nft -c -f`, and `--apply` loads it inside a network namespace the test creates
//! (`unshare -rn`), so the machine's own firewall is never touched.

use crate::common;

use common::{TempDir, BIN};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NFT: &str = "/usr/sbin/nft";

/// A configuration with one listener of each kind: any address, any IPv6 (dual stack), and
/// bound to one address of each family.
fn config(dir: &Path) -> PathBuf {
    let path = dir.join("rampart.toml");
    std::fs::write(
        &path,
        "hostname = \"mail.example.test\"\ndata_dir = \"data\"\n\
         [[listener]]\nrole = \"mx\"\naddress = \"0.0.0.0:25\"\n\
         [[listener]]\nrole = \"submission\"\naddress = \"[::]:587\"\n\
         [[listener]]\nrole = \"submissions\"\naddress = \"192.0.2.10:465\"\n\
         [[listener]]\nrole = \"https\"\naddress = \"[2001:db8::10]:443\"\n",
    )
    .unwrap();
    path
}

fn nft_installed() {
    assert!(
        Path::new(NFT).is_file(),
        "nft is not installed: these tests need Debian's nftables package \
         (apt-get install nftables; scripts/test.sh installs it)"
    );
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn nc_2_3_1_printed_ruleset_passes_nft_check() {
    nft_installed();
    let dir = TempDir::new("fw");
    let cfg = config(&dir.0);
    let out =
        run(Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .args(["firewall", "--allow-tcp", "22"]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("table inet rampart {"), "{text}");
    assert!(text.contains("policy drop;"), "{text}");
    // NC-2.3.1: each listener's port, by address where it binds one; nothing else but --allow-tcp.
    for rule in [
        "meta nfproto ipv4 tcp dport 25 accept",
        "    tcp dport 587 accept",
        "ip daddr 192.0.2.10 tcp dport 465 accept",
        "ip6 daddr 2001:db8::10 tcp dport 443 accept",
        "tcp dport 22 accept",
    ] {
        assert!(text.contains(rule), "missing {rule:?} in\n{text}");
    }
    assert_eq!(text.matches("dport").count(), 5, "{text}");
    assert!(
        text.contains("set banned4") && text.contains("set banned6"),
        "{text}"
    );
    // NC-2.4.2: a ban in the store becomes an element of the banned set, with its time left.
    run(Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["ban", "add", "198.51.100.7"]));
    let out =
        run(Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .args(["firewall", "--allow-tcp", "22"]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("elements = { 198.51.100.7 timeout "),
        "the ban is not in the set:\n{text}"
    );
    // --output writes the same ruleset to a file, which nft's check mode accepts.
    let file = dir.0.join("rampart.nft");
    run(Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["firewall", "--allow-tcp", "22", "--output"])
        .arg(&file));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    run(Command::new(NFT).arg("-c").arg("-f").arg(&file));
    // A broken file is refused by the same check: the check is not a formality.
    std::fs::write(&file, text.replace("policy drop;", "policy nope;")).unwrap();
    let bad = Command::new(NFT)
        .arg("-c")
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!bad.status.success(), "nft -c accepted a broken ruleset");
}

/// Whether this sandbox lets an unprivileged user and network namespace be created.
fn namespaces_work() -> bool {
    Command::new("unshare")
        .args(["-rn", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn nc_2_4_2_apply_loads_the_table_and_keeps_the_sets_in_step_in_a_namespace() {
    nft_installed();
    if !namespaces_work() {
        // Reported, not counted as a pass: the lead reads this line in the test output.
        eprintln!("SKIPPED nc_2_4_2_apply: this sandbox forbids network namespaces (unshare -rn)");
        return;
    }
    let dir = TempDir::new("fw-apply");
    let cfg = config(&dir.0);
    // One shell in one fresh namespace: apply, list, add a stale element by hand, apply
    // again (the set must lose it), list again.
    let script = format!(
        "set -e\n\
         {bin} --config {cfg} firewall --apply --allow-tcp 22\n\
         {nft} -j list table inet rampart > {dir}/first.json\n\
         {nft} add element inet rampart banned4 '{{ 192.0.2.99 timeout 1h }}'\n\
         {nft} list set inet rampart banned4 > {dir}/stale.txt\n\
         {bin} --config {cfg} firewall --apply --allow-tcp 22\n\
         {nft} -j list table inet rampart > {dir}/second.json\n",
        bin = BIN,
        cfg = cfg.display(),
        nft = NFT,
        dir = dir.0.display()
    );
    let out = run(Command::new("unshare").args(["-rn", "sh", "-c", &script]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("loaded table inet rampart"), "{stdout}");
    let read = |n: &str| std::fs::read_to_string(dir.0.join(n)).unwrap();
    let first: serde_json::Value = serde_json::from_str(&read("first.json")).unwrap();
    let rules: Vec<String> = first["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("rule"))
        .map(|r| r["expr"].to_string())
        .collect();
    // Loopback, bans (2), invalid, established, ICMP (2), 4 listeners, --allow-tcp 22.
    assert_eq!(rules.len(), 12, "{rules:#?}");
    let policy = first["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o.get("chain"))
        .map(|c| c["policy"].clone());
    assert_eq!(policy, Some(serde_json::json!("drop")));
    assert!(read("stale.txt").contains("192.0.2.99"));
    // Applied again: the same rules, not twice, and the set holds the bans in force only.
    let second = read("second.json");
    assert!(!second.contains("192.0.2.99"), "{second}");
    let again: serde_json::Value = serde_json::from_str(&second).unwrap();
    let count = again["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o.get("rule").is_some())
        .count();
    assert_eq!(count, 12);
}
