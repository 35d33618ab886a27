// The webmail's script: a JMAP client of this server (see crates/rampart/src/webmail/mod.rs).
"use strict";
