//! Placeholder until the HTML cleaning lands.
