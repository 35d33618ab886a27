//! Reading a file into a [`Config`]: parse, resolve paths, validate, merge the default rate
//! limits; and writing the effective configuration back out.

use crate::relay::merge_rate_limits;
use crate::report::{explain, key_at, line_of, ConfigError, ConfigErrors, Locator, Warning};
use crate::{CheckName, Config, Listener, Role};
use std::path::Path;

/// Where the embedded default's warnings say they come from.
const EMBEDDED: &str = "(embedded default)";

impl Config {
    /// The embedded default: the demo that `rampart serve` runs with no configuration. Five
    /// listeners on loopback (three SMTP, one HTTPS, the admin console), data in `./rampart-data`.
    pub fn embedded_default() -> Config {
        let mut config = Config::default();
        // The demo runs without a clamd; a real configuration has antivirus on unless it says
        // otherwise (and the audit reports it then).
        config.checks.disabled.push(CheckName::Antivirus);
        for (role, address) in [
            (Role::Mx, "127.0.0.1:2525"),
            (Role::Submission, "127.0.0.1:2587"),
            (Role::Submissions, "127.0.0.1:2465"),
            // Served with the same (generated) certificate as the SMTP listeners.
            (Role::Https, "127.0.0.1:2443"),
            // The administration console, loopback only.
            (Role::Admin, "127.0.0.1:2444"),
        ] {
            config.listeners.push(Listener::new(
                role,
                address.parse().expect("literal address"),
            ));
        }
        config
    }

    /// The embedded default with its warnings (antivirus is off in the demo).
    pub fn embedded_default_with_warnings() -> (Config, Vec<Warning>) {
        let config = Config::embedded_default();
        let loc = Locator::new(Path::new(EMBEDDED), "");
        let (_, warnings) = crate::validate::check(&config, &loc);
        (config, warnings)
    }

    /// Reads and validates a configuration file. Relative paths in it are taken relative to the
    /// file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::load_with_warnings(path).map(|(c, _)| c)
    }

    /// [`Config::load`], with the warnings for the caller to print.
    pub fn load_with_warnings(path: &Path) -> Result<(Config, Vec<Warning>), ConfigErrors> {
        let src = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                key: None,
                message: format!("cannot read the file ({e}); check the path given to --config"),
            }])
        })?;
        Config::parse_with_warnings(path, &src)
    }

    /// Parses and validates configuration text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, src: &str) -> Result<Config, ConfigErrors> {
        Config::parse_with_warnings(path, src).map(|(c, _)| c)
    }

    /// [`Config::parse`], with the warnings: settings that are valid but weaken the server.
    pub fn parse_with_warnings(
        path: &Path,
        src: &str,
    ) -> Result<(Config, Vec<Warning>), ConfigErrors> {
        let mut config: Config = toml::from_str(src).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => (Some(line_of(src, span.start)), key_at(src, span.start)),
                None => (None, None),
            };
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line,
                key,
                message: explain(e.message()),
            }])
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        let loc = Locator::new(path, src);
        let (errors, warnings) = crate::validate::check(&config, &loc);
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        // NC-2.1.8: the defaults stay unless replaced one by one.
        config.rate_limits = merge_rate_limits(std::mem::take(&mut config.rate_limits));
        Ok((config, warnings))
    }

    fn resolve_paths(&mut self, base: &Path) {
        if self.data_dir.is_relative() {
            self.data_dir = base.join(&self.data_dir);
        }
        for p in [&mut self.tls.cert, &mut self.tls.key]
            .into_iter()
            .flatten()
        {
            if p.get_ref().is_relative() {
                let joined = base.join(p.get_ref());
                *p.get_mut() = joined;
            }
        }
        if let Some(nc) = &mut self.null_client {
            for p in [&mut nc.ca_file, &mut nc.password_file]
                .into_iter()
                .flatten()
            {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        // AL-1.2: spam rule files, like the other files the configuration names.
        for p in &mut self.checks.spam.rule_files {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        self.integrity.resolve_paths(base);
        self.freshness.resolve_paths(base);
        if let Some(p) = &mut self.audit.geoip_database {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// The effective configuration as TOML, every default written out; parsing it again gives
    /// the same configuration. Holds no secret: the configuration has none (passwords stay in
    /// the files it names).
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| format!("cannot write the configuration as TOML: {e}"))
    }
}
