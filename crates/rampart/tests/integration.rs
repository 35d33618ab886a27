//! Rampart's integration tests, one binary: each file beside this one is a module of it. One
//! binary links the server's code once, where 67 binaries linked it 67 times (about 4 GB of disk
//! and several minutes of linking on a fresh clone). The tests share nothing but the helpers
//! below; each starts what it needs (servers, DNS, clamd, Postfix, PostgreSQL) on ports and in
//! directories of its own, as they did when each file was a binary.

#[path = "../../rampart-checks/tests/support/clamd.rs"]
#[allow(dead_code)]
mod clamd;
mod common;
mod session_support;
#[path = "common/sts.rs"]
mod sts;

mod admin_cli;
mod audit_local;
mod audit_pg;
mod audit_remote;
mod config_cli;
mod console_admin_browser;
mod console_browser;
mod console_browser_pages;
mod console_http;
mod console_pages;
mod crash;
mod dane;
mod delivery;
mod disk_full;
mod dmarc_reports;
mod e2e_clients;
mod e2e_jmapc;
mod firewall;
mod freshness;
mod gateway;
mod gateway_postfix;
mod gateway_split;
mod https;
mod ids_bans;
mod ids_web;
mod inbound_auth;
mod integrity;
mod jmap_auth;
mod jmap_core;
mod jmap_delegation;
mod jmap_email;
mod jmap_mail;
mod jmap_submission;
mod lifecycle;
mod loadgen;
mod logging;
mod metrics;
mod mta_sts;
mod mta_sts_serve;
mod null_client;
mod one_meaning;
mod outside_daemon_ports;
mod pg_admin;
mod pg_console;
mod pg_console_directory;
mod pg_disk_full;
mod pg_faults;
mod pg_nodes;
mod recipient_verify;
mod reload;
mod report_summary;
mod sendmail;
mod smtp;
mod spam_bayes;
mod spam_bayes_version;
mod spam_rspamd;
mod spam_rspamd_learn;
mod spam_rules;
mod spam_trusted;
mod spool;
mod store_cli;
mod store_migrate;
mod submission;
mod systemd;
mod tls_report;
mod tls_report_send;
mod webmail_actions;
mod webmail_audit;
mod webmail_browser;
mod webmail_hostile;
mod webmail_session;
