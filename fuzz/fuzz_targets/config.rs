//! The configuration loader (`Config::parse`) on any UTF-8 text: it either returns a
//! configuration or a non-empty list of errors whose lines lie within the file, and printing
//! those errors never panics. Relative paths are anchored in a directory that does not exist, so
//! nothing on disk is read beyond a failed `stat` of a certificate path.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rampart_config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/rampart-fuzz/rampart.toml");
    match Config::parse(path, src) {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "Err with no error in it");
            let last_line = src.split('\n').count();
            for e in &errors.0 {
                if let Some(line) = e.line {
                    assert!(
                        (1..=last_line).contains(&line),
                        "error on line {line} of a {last_line}-line file: {e}"
                    );
                }
            }
            let _ = errors.to_string();
        }
    }
});
