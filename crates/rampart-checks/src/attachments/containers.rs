//! Containers that carry files without being zip archives (AL-1.4): plain tar, uuencoded and
//! BinHex 4.0 payloads (in any part, text bodies included), and TNEF (`winmail.dat`). Each
//! parser is pure (bytes in, files out), never reads past its input and never produces more
//! than the caller's byte cap; what it cannot read is an error, which the check reports as
//! uninspectable.

/// A file found in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub name: String,
    pub data: Vec<u8>,
}

/// Why a container could not be read completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerProblem {
    /// Truncated or inconsistent structure.
    Malformed(&'static str),
    /// More files or bytes than the caller's limits.
    OverLimit,
}

impl std::fmt::Display for ContainerProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContainerProblem::Malformed(why) => write!(f, "malformed ({why})"),
            ContainerProblem::OverLimit => f.write_str("over the inspection limits"),
        }
    }
}

type Files = Result<Vec<Carried>, (Vec<Carried>, ContainerProblem)>;

/// Limits a parser works within: files and bytes it may still produce.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub files: usize,
    pub bytes: u64,
}

impl Caps {
    fn take(&mut self, len: usize) -> bool {
        if self.files == 0 || len as u64 > self.bytes {
            return false;
        }
        self.files -= 1;
        self.bytes -= len as u64;
        true
    }
}

// ---- tar ----

fn octal(field: &[u8]) -> Option<u64> {
    // GNU base-256 for sizes over 8 GiB: refuse rather than guess.
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

/// Whether a 512-byte block is a tar header: its checksum adds up (v7, ustar and GNU alike).
fn is_tar_header(h: &[u8]) -> bool {
    if h.len() < 512 || h[0] == 0 {
        return false;
    }
    let Some(sum) = octal(&h[148..156]) else {
        return false;
    };
    let computed: u64 = h[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u64
            }
        })
        .sum();
    sum == computed
}

/// True when `data` starts with a tar header.
pub fn is_tar(data: &[u8]) -> bool {
    is_tar_header(data)
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The regular files of a tar archive (GNU long names and pax `path` records honoured).
pub fn tar_files(data: &[u8], caps: &mut Caps) -> Files {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut long_name: Option<String> = None;
    while pos + 512 <= data.len() {
        let h = &data[pos..pos + 512];
        if h.iter().all(|&b| b == 0) {
            return Ok(out);
        }
        if !is_tar_header(h) {
            return Err((out, ContainerProblem::Malformed("bad tar header checksum")));
        }
        let Some(size) = octal(&h[124..136]) else {
            return Err((out, ContainerProblem::Malformed("bad tar entry size")));
        };
        let start = pos + 512;
        let Some(body) = usize::try_from(size)
            .ok()
            .and_then(|s| data.get(start..start.checked_add(s)?))
        else {
            return Err((out, ContainerProblem::Malformed("truncated tar entry")));
        };
        let mut name = cstr(&h[0..100]);
        if &h[257..262] == b"ustar" && h[345] != 0 {
            name = format!("{}/{name}", cstr(&h[345..500]));
        }
        match h[156] {
            b'L' => long_name = Some(cstr(body)),
            b'x' => {
                if let Some(p) = pax_path(body) {
                    long_name = Some(p);
                }
            }
            b'0' | 0 | b'7' => {
                let name = long_name.take().unwrap_or(name);
                if !caps.take(body.len()) {
                    return Err((out, ContainerProblem::OverLimit));
                }
                out.push(Carried {
                    name,
                    data: body.to_vec(),
                });
            }
            _ => long_name = None,
        }
        pos = start + (size as usize).div_ceil(512) * 512;
    }
    Ok(out)
}

fn pax_path(records: &[u8]) -> Option<String> {
    String::from_utf8_lossy(records).lines().find_map(|l| {
        let (_, kv) = l.split_once(' ')?;
        kv.strip_prefix("path=").map(str::to_string)
    })
}

// ---- gzip ----

/// The content of gzip data (all members), at most what `caps` allows; named by the header's
/// file name, else `outer` without its `.gz` (`.tgz` becomes `.tar`).
pub fn gunzip(data: &[u8], outer: &str, caps: &mut Caps) -> Files {
    use std::io::Read;
    let mut dec = flate2::read::MultiGzDecoder::new(data);
    let mut out = Vec::new();
    // One byte past the cap tells "over the limit" from "fits" without inflating further.
    let read = (&mut dec).take(caps.bytes + 1).read_to_end(&mut out);
    let name = dec
        .header()
        .and_then(|h| h.filename())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_else(|| {
            let lower = outer.to_ascii_lowercase();
            if lower.ends_with(".tgz") {
                format!("{}.tar", &outer[..outer.len() - 4])
            } else if lower.ends_with(".gz") {
                outer[..outer.len() - 3].to_string()
            } else {
                outer.to_string()
            }
        });
    if out.len() as u64 > caps.bytes || !caps.take(out.len()) {
        return Err((Vec::new(), ContainerProblem::OverLimit));
    }
    if read.is_err() {
        return Err((
            vec![Carried { name, data: out }],
            ContainerProblem::Malformed("corrupt gzip data"),
        ));
    }
    Ok(vec![Carried { name, data: out }])
}

// ---- uuencode ----

/// Every `begin <mode> <name>` … `end` block in `data` (a text body or a file), decoded.
pub fn uudecode_all(data: &[u8], caps: &mut Caps) -> Files {
    let mut out = Vec::new();
    let mut lines = data
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    while let Some(line) = lines.next() {
        let Some(name) = uu_begin(line) else { continue };
        let mut file = Vec::new();
        let mut ended = false;
        for l in lines.by_ref() {
            if l == b"end" {
                ended = true;
                break;
            }
            let Some(&len_ch) = l.first() else { continue };
            let n = (len_ch.wrapping_sub(32) & 63) as usize;
            if n == 0 {
                continue;
            }
            let mut chunk = Vec::with_capacity(n + 3);
            for quad in l[1..].chunks(4) {
                let v: Vec<u32> = quad
                    .iter()
                    .map(|&c| (c.wrapping_sub(32) & 63) as u32)
                    .collect();
                let g = v
                    .iter()
                    .chain(std::iter::repeat(&0))
                    .take(4)
                    .fold(0u32, |a, &x| a << 6 | x);
                chunk.extend_from_slice(&[(g >> 16) as u8, (g >> 8) as u8, g as u8]);
            }
            chunk.truncate(n);
            file.extend_from_slice(&chunk);
        }
        if !caps.take(file.len()) {
            return Err((out, ContainerProblem::OverLimit));
        }
        out.push(Carried { name, data: file });
        if !ended {
            break;
        }
    }
    Ok(out)
}

/// `begin 644 name` (also `begin-base64` is not uuencode and is left to MIME).
fn uu_begin(line: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(b"begin ")?;
    let text = std::str::from_utf8(rest).ok()?;
    let (mode, name) = text.split_once(' ')?;
    if !(3..=4).contains(&mode.len()) || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

// ---- BinHex 4.0 ----

const BINHEX_MARK: &[u8] = b"(This file must be converted with BinHex";
const BINHEX_ALPHABET: &[u8; 64] =
    b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

/// True when `data` carries a BinHex 4.0 block.
pub fn has_binhex(data: &[u8]) -> bool {
    find(data, BINHEX_MARK).is_some()
}

/// The data and resource forks of the BinHex 4.0 block in `data`, named after the file.
pub fn binhex_files(data: &[u8], caps: &mut Caps) -> Files {
    let malformed = |w| Err((Vec::new(), ContainerProblem::Malformed(w)));
    let Some(mark) = find(data, BINHEX_MARK) else {
        return Ok(Vec::new());
    };
    let after = &data[mark..];
    let Some(open) = after.iter().position(|&b| b == b':') else {
        return malformed("no BinHex start");
    };
    let body = &after[open + 1..];
    let Some(close) = body.iter().position(|&b| b == b':') else {
        return malformed("no BinHex end");
    };
    // 6-bit characters to bytes, whitespace skipped.
    let mut raw = Vec::with_capacity(close * 3 / 4 + 3);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in &body[..close] {
        if c.is_ascii_whitespace() {
            continue;
        }
        let Some(v) = BINHEX_ALPHABET.iter().position(|&a| a == c) else {
            return malformed("character outside the BinHex alphabet");
        };
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            raw.push((acc >> bits) as u8);
        }
    }
    // Run-length expansion (0x90 n repeats the previous byte), capped: a run cannot grow the
    // output past what the caller allows.
    let cap = caps.bytes.min(u32::MAX as u64) as usize + 64;
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == 0x90 {
            let Some(&n) = raw.get(i + 1) else { break };
            if n == 0 {
                out.push(0x90);
            } else if let Some(&prev) = out.last() {
                let add = n as usize - 1;
                if out.len() + add > cap {
                    return Err((Vec::new(), ContainerProblem::OverLimit));
                }
                out.extend(std::iter::repeat_n(prev, add));
            }
            i += 2;
        } else {
            out.push(raw[i]);
            i += 1;
        }
        if out.len() > cap {
            return Err((Vec::new(), ContainerProblem::OverLimit));
        }
    }
    // Header: name length, name, version, type, creator, flags, data and resource lengths,
    // CRC; then the forks, each followed by its CRC.
    let Some(&nlen) = out.first() else {
        return malformed("empty BinHex");
    };
    let n = nlen as usize;
    let h = 1 + n + 1 + 4 + 4 + 2;
    let (Some(name), Some(dl), Some(rl)) =
        (out.get(1..1 + n), out.get(h..h + 4), out.get(h + 4..h + 8))
    else {
        return malformed("truncated BinHex header");
    };
    let name = String::from_utf8_lossy(name).into_owned();
    let dl = u32::from_be_bytes([dl[0], dl[1], dl[2], dl[3]]) as usize;
    let rl = u32::from_be_bytes([rl[0], rl[1], rl[2], rl[3]]) as usize;
    let d0 = h + 8 + 2;
    let r0 = d0.saturating_add(dl).saturating_add(2);
    let (Some(dfork), Some(rfork)) = (
        out.get(d0..d0.saturating_add(dl)),
        out.get(r0..r0.saturating_add(rl)),
    ) else {
        return malformed("truncated BinHex fork");
    };
    let mut files = Vec::new();
    for (suffix, fork) in [("", dfork), ("/rsrc", rfork)] {
        if fork.is_empty() {
            continue;
        }
        if !caps.take(fork.len()) {
            return Err((files, ContainerProblem::OverLimit));
        }
        files.push(Carried {
            name: format!("{name}{suffix}"),
            data: fork.to_vec(),
        });
    }
    Ok(files)
}

// ---- TNEF ----

const TNEF_SIGNATURE: [u8; 4] = [0x78, 0x9F, 0x3E, 0x22];
const ATT_ATTACH_REND_DATA: u32 = 0x0006_9002;
const ATT_ATTACH_TITLE: u32 = 0x0001_8010;
const ATT_ATTACH_DATA: u32 = 0x0006_800F;
const ATT_ATTACHMENT: u32 = 0x0006_9005;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;

/// True when `data` is a TNEF stream (`winmail.dat`, `application/ms-tnef`).
pub fn is_tnef(data: &[u8]) -> bool {
    data.starts_with(&TNEF_SIGNATURE)
}

/// The attached files of a TNEF stream, named by their long file name when given.
pub fn tnef_files(data: &[u8], caps: &mut Caps) -> Files {
    let mut files: Vec<Carried> = Vec::new();
    let mut pos = 6; // signature and key
    let mut current: Option<Carried> = None;
    let flush = |cur: &mut Option<Carried>, files: &mut Vec<Carried>, caps: &mut Caps| {
        if let Some(c) = cur.take() {
            if !caps.take(c.data.len()) {
                return false;
            }
            files.push(c);
        }
        true
    };
    while pos < data.len() {
        let Some(hdr) = data.get(pos..pos + 9) else {
            return Err((
                files,
                ContainerProblem::Malformed("truncated TNEF attribute"),
            ));
        };
        let id = u32::from_le_bytes([hdr[1], hdr[2], hdr[3], hdr[4]]);
        let len = u32::from_le_bytes([hdr[5], hdr[6], hdr[7], hdr[8]]) as usize;
        let start = pos + 9;
        let Some(value) = data.get(start..start.saturating_add(len)) else {
            return Err((
                files,
                ContainerProblem::Malformed("truncated TNEF attribute"),
            ));
        };
        match id {
            ATT_ATTACH_REND_DATA => {
                if !flush(&mut current, &mut files, caps) {
                    return Err((files, ContainerProblem::OverLimit));
                }
                current = Some(Carried {
                    name: String::new(),
                    data: Vec::new(),
                });
            }
            ATT_ATTACH_TITLE => {
                let c = current.get_or_insert_with(empty);
                if c.name.is_empty() {
                    c.name = cstr(value);
                }
            }
            ATT_ATTACH_DATA => {
                if value.len() as u64 > caps.bytes {
                    return Err((files, ContainerProblem::OverLimit));
                }
                current.get_or_insert_with(empty).data = value.to_vec();
            }
            ATT_ATTACHMENT => {
                if let Some(long) = mapi_long_filename(value) {
                    current.get_or_insert_with(empty).name = long;
                }
            }
            _ => {}
        }
        pos = start + len + 2; // value and checksum
    }
    if !flush(&mut current, &mut files, caps) {
        return Err((files, ContainerProblem::OverLimit));
    }
    Ok(files)
}

fn empty() -> Carried {
    Carried {
        name: String::new(),
        data: Vec::new(),
    }
}

/// PR_ATTACH_LONG_FILENAME from a TNEF MAPI property block, if present and readable.
fn mapi_long_filename(p: &[u8]) -> Option<String> {
    let u32_at = |o: usize| {
        p.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let count = u32_at(0)? as usize;
    let mut o = 4;
    for _ in 0..count.min(4096) {
        let ty = u16::from_le_bytes([*p.get(o)?, *p.get(o + 1)?]);
        let id = u16::from_le_bytes([*p.get(o + 2)?, *p.get(o + 3)?]);
        o += 4;
        if id >= 0x8000 {
            // Named property: GUID, kind, then an id or a name.
            o += 16;
            let kind = u32_at(o)?;
            o += 4;
            if kind == 0 {
                o += 4;
            } else {
                let l = u32_at(o)? as usize;
                o += 4 + l.div_ceil(4) * 4;
            }
        }
        let multi = ty & 0x1000 != 0;
        let base = ty & !0x1000;
        let values = if multi || matches!(base, 0x001E | 0x001F | 0x0102 | 0x000D) {
            let n = u32_at(o)? as usize;
            o += 4;
            n
        } else {
            1
        };
        for _ in 0..values.min(4096) {
            let fixed = match base {
                0x0002 | 0x000B => 4, // short and boolean are padded to 4
                0x0003 | 0x0004 | 0x000A => 4,
                0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => 8,
                0x0048 => 16,
                0x001E | 0x001F | 0x0102 | 0x000D => {
                    let l = u32_at(o)? as usize;
                    let v = p.get(o + 4..o + 4 + l)?;
                    if id == PR_ATTACH_LONG_FILENAME {
                        return Some(if base == 0x001F {
                            let u: Vec<u16> = v
                                .chunks_exact(2)
                                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                                .take_while(|&c| c != 0)
                                .collect();
                            String::from_utf16_lossy(&u)
                        } else {
                            cstr(v)
                        });
                    }
                    o += 4 + l.div_ceil(4) * 4;
                    continue;
                }
                _ => return None,
            };
            o += fixed;
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    // A substring search, not a comparison at every offset (issue 23: the BinHex mark is looked
    // for in every text part of every message).
    memchr::memmem::find(hay, needle)
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Containers built in memory for the tests.

    /// A ustar archive of `(name, data)` files.
    pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[100..107].copy_from_slice(b"0000644");
            h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            h[136..147].copy_from_slice(b"00000000000");
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|&b| b as u32).sum();
            h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    /// `data` uuencoded as `name`.
    pub fn uuencode(name: &str, data: &[u8]) -> String {
        let enc = |v: u8| if v == 0 { '`' } else { (v + 32) as char };
        let mut s = format!("begin 644 {name}\n");
        for line in data.chunks(45) {
            s.push(enc(line.len() as u8));
            for c in line.chunks(3) {
                let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
                let g = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
                for k in (0..4).rev() {
                    s.push(enc((g >> (6 * k) & 63) as u8));
                }
            }
            s.push('\n');
        }
        s.push_str("`\nend\n");
        s
    }

    /// A BinHex 4.0 block for a file `name` with `data` as its data fork (CRCs left zero: they
    /// are not checked).
    pub fn binhex(name: &str, data: &[u8]) -> String {
        let mut raw = vec![name.len() as u8];
        raw.extend_from_slice(name.as_bytes());
        raw.push(0);
        raw.extend_from_slice(b"APPLMACS\0\0");
        raw.extend_from_slice(&(data.len() as u32).to_be_bytes());
        raw.extend_from_slice(&0u32.to_be_bytes());
        raw.extend_from_slice(&[0, 0]);
        raw.extend_from_slice(data);
        raw.extend_from_slice(&[0, 0, 0, 0]);
        // No byte 0x90 may appear unescaped.
        let mut esc = Vec::new();
        for b in raw {
            esc.push(b);
            if b == 0x90 {
                esc.push(0);
            }
        }
        let mut s = String::from("(This file must be converted with BinHex 4.0)\n:");
        let (mut acc, mut bits) = (0u32, 0);
        for b in esc {
            acc = acc << 8 | b as u32;
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                s.push(super::BINHEX_ALPHABET[(acc >> bits & 63) as usize] as char);
            }
        }
        if bits > 0 {
            s.push(super::BINHEX_ALPHABET[(acc << (6 - bits) & 63) as usize] as char);
        }
        s.push_str(":\n");
        s
    }

    /// A TNEF stream with one attachment: 8.3 title `title`, long name `long`, `data`.
    pub fn tnef(title: &str, long: &str, data: &[u8]) -> Vec<u8> {
        let mut v = vec![0x78, 0x9F, 0x3E, 0x22, 0x01, 0x00];
        let mut attr = |level: u8, id: u32, value: &[u8]| {
            v.push(level);
            v.extend_from_slice(&id.to_le_bytes());
            v.extend_from_slice(&(value.len() as u32).to_le_bytes());
            v.extend_from_slice(value);
            let sum = value.iter().map(|&b| b as u32).sum::<u32>() as u16;
            v.extend_from_slice(&sum.to_le_bytes());
        };
        attr(1, 0x0009_8008, b"IPM.Microsoft Mail.Note\0");
        attr(2, super::ATT_ATTACH_REND_DATA, &[0; 14]);
        attr(2, super::ATT_ATTACH_TITLE, format!("{title}\0").as_bytes());
        attr(2, super::ATT_ATTACH_DATA, data);
        let mut props = 1u32.to_le_bytes().to_vec();
        props.extend_from_slice(&0x001Eu16.to_le_bytes());
        props.extend_from_slice(&super::PR_ATTACH_LONG_FILENAME.to_le_bytes());
        props.extend_from_slice(&1u32.to_le_bytes());
        let name = format!("{long}\0");
        props.extend_from_slice(&(name.len() as u32).to_le_bytes());
        props.extend_from_slice(name.as_bytes());
        props.resize(props.len().div_ceil(4) * 4, 0);
        attr(2, super::ATT_ATTACHMENT, &props);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    fn caps() -> Caps {
        Caps {
            files: 100,
            bytes: 1 << 20,
        }
    }

    #[test]
    fn tar_round_trip() {
        let t = tar_of(&[("a.txt", b"hello"), ("dir/b.exe", b"MZ\0\0")]);
        assert!(is_tar(&t));
        let f = tar_files(&t, &mut caps()).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[1].name.as_str(), &f[1].data[..]),
            ("dir/b.exe", &b"MZ\0\0"[..])
        );
        let mut small = Caps {
            files: 1,
            bytes: 100,
        };
        assert!(matches!(
            tar_files(&t, &mut small),
            Err((_, ContainerProblem::OverLimit))
        ));
        assert!(!is_tar(&[0u8; 512]));
    }

    #[test]
    fn gzip_round_trip_and_bomb() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"MZ\0\0 payload").unwrap();
        let gz = gz.finish().unwrap();
        let f = gunzip(&gz, "bundle.tgz", &mut caps()).unwrap();
        assert_eq!(f[0].name, "bundle.tar");
        assert_eq!(f[0].data, b"MZ\0\0 payload");
        let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        bomb.write_all(&vec![0u8; 4 << 20]).unwrap();
        let bomb = bomb.finish().unwrap();
        assert!(matches!(
            gunzip(&bomb, "x.gz", &mut caps()),
            Err((_, ContainerProblem::OverLimit))
        ));
    }

    #[test]
    fn truncated_containers_never_panic() {
        let t = tar_of(&[("a.txt", b"hello")]);
        let u = uuencode("a.exe", &[1u8; 100]);
        let b = binhex("a", &[2u8; 100]);
        let n = tnef("A.TXT", "a.txt", b"data");
        for cut in 0..t.len() {
            let _ = tar_files(&t[..cut], &mut caps());
        }
        for cut in 0..u.len() {
            let _ = uudecode_all(&u.as_bytes()[..cut], &mut caps());
        }
        for cut in 0..b.len() {
            let _ = binhex_files(&b.as_bytes()[..cut], &mut caps());
        }
        for cut in 0..n.len() {
            let _ = tnef_files(&n[..cut], &mut caps());
        }
    }

    #[test]
    fn uuencode_round_trip() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let text = format!("Hello,\n\n{}\nbye\n", uuencode("tool.exe", &data));
        let f = uudecode_all(text.as_bytes(), &mut caps()).unwrap();
        assert_eq!(
            f,
            vec![Carried {
                name: "tool.exe".into(),
                data
            }]
        );
        assert!(uudecode_all(b"begin here\nend\n", &mut caps())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn binhex_round_trip() {
        let data: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let text = binhex("setup.exe", &data);
        assert!(has_binhex(text.as_bytes()));
        let f = binhex_files(text.as_bytes(), &mut caps()).unwrap();
        assert_eq!(
            f,
            vec![Carried {
                name: "setup.exe".into(),
                data
            }]
        );
    }

    #[test]
    fn binhex_run_length_is_capped() {
        // A tiny block whose runs expand far past the cap.
        let mut s = String::from("(This file must be converted with BinHex 4.0)\n:");
        let mut raw = vec![b'x'];
        for _ in 0..2000 {
            raw.extend_from_slice(&[0x90, 0xFF]);
        }
        let (mut acc, mut bits) = (0u32, 0);
        for b in raw {
            acc = acc << 8 | b as u32;
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                s.push(BINHEX_ALPHABET[(acc >> bits & 63) as usize] as char);
            }
        }
        s.push(':');
        let mut c = Caps {
            files: 10,
            bytes: 1000,
        };
        assert!(matches!(
            binhex_files(s.as_bytes(), &mut c),
            Err((_, ContainerProblem::OverLimit))
        ));
    }

    #[test]
    fn tnef_long_name_wins() {
        let t = tnef("INVOICE.PDF", "invoice.pdf.js", b"WScript.Shell");
        assert!(is_tnef(&t));
        let f = tnef_files(&t, &mut caps()).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].name, "invoice.pdf.js");
        assert_eq!(f[0].data, b"WScript.Shell");
        assert!(tnef_files(&t[..t.len() - 5], &mut caps()).is_err());
    }
}
