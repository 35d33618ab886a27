//! The webmail (issue 13). This file holds only what helper h20 built; the lead's mod.rs
//! (routes, sessions, the page shell) replaces it when merging.
#![allow(dead_code)] // Until the router serves the message view.

pub mod render;
pub mod sanitize;
