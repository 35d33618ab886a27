//! The retry rule for a daemon that must be told its port (tests/common/mod.rs,
//! `start_outside_daemon`), with Debian's Postfix: the port it is given is taken by another
//! socket before Postfix binds it, Postfix says so, and it is started again on a new port.

use crate::common;

use common::postfix::start_on_ports;
use common::*;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// Stops the private Postfix of this configuration directory on drop.
struct Stop(PathBuf);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .args(["-c", self.0.to_str().unwrap(), "stop"])
            .output();
    }
}

fn master_cf(port: u16) -> String {
    format!(
        "127.0.0.1:{port} inet n - n - - smtpd\n{}",
        common::postfix::INTERNAL_SERVICES
    )
}

#[test]
fn a_daemon_whose_port_is_taken_is_started_again_on_a_new_one() {
    assert!(
        std::path::Path::new("/usr/sbin/postfix").exists(),
        "postfix is not installed: run scripts/test.sh (it installs Debian's postfix package)"
    );
    let dir = TempDir::new("pfretry");
    let d = &dir.0;
    let conf = d.join("conf");
    for p in [&conf, &d.join("queue"), &d.join("data")] {
        std::fs::create_dir_all(p).unwrap();
    }
    common::postfix::run(&["chmod", "755", d.to_str().unwrap()]);
    common::postfix::run(&["chown", "postfix", d.join("data").to_str().unwrap()]);
    std::fs::write(
        conf.join("main.cf"),
        format!(
            "compatibility_level = 3.6\nqueue_directory = {d}/queue\ndata_directory = {d}/data\n\
             myhostname = mail.example.test\nmydestination =\ninet_interfaces = loopback-only\n\
             inet_protocols = ipv4\nalias_maps =\nalias_database =\n\
             maillog_file = {d}/maillog\nmaillog_file_prefixes = {d}\nbiff = no\n",
            d = d.display()
        ),
    )
    .unwrap();

    // Another process takes the first port between its choice and Postfix's bind.
    let taken: Mutex<Vec<TcpListener>> = Mutex::new(Vec::new());
    let ports = start_on_ports(&conf, &d.join("maillog"), 1, |ports| {
        let mut t = taken.lock().unwrap();
        if t.is_empty() {
            t.push(TcpListener::bind(("127.0.0.1", ports[0])).unwrap());
        }
        master_cf(ports[0])
    });
    let _stop = Stop(conf.clone());

    let taken = taken.into_inner().unwrap();
    assert_eq!(taken.len(), 1);
    let first = taken[0].local_addr().unwrap().port();
    assert_ne!(ports[0], first, "started again on the port that was taken");
    // The master.cf Postfix runs with names the new port, and Postfix answers there.
    let cf = std::fs::read_to_string(conf.join("master.cf")).unwrap();
    assert!(
        cf.starts_with(&format!("127.0.0.1:{} inet", ports[0])),
        "{cf}"
    );
    let addr: SocketAddr = ([127, 0, 0, 1], ports[0]).into();
    let mut c = Client::connect(addr);
    let greeting = c.expect(220);
    assert!(greeting.starts_with("mail.example.test"), "{greeting}");
    c.send("QUIT");
    c.expect(221);
}
