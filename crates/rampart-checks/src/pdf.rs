//! What a PDF does when opened (AL-1.4) and what it says, for the attachment check, the URL
//! check and DLP. Not a renderer: the file is read as a sequence of objects and streams, each
//! stream decoded through its filter chain (`ASCIIHexDecode`, `ASCII85Decode`, `FlateDecode`,
//! abbreviations included), so names hidden in compressed or object streams are seen.
//!
//! [`scan`] reports JavaScript, Launch and OpenAction (names written with `#xx` escapes too),
//! the targets of `/URI` actions, and the text shown by `Tj`/`TJ`/`'`/`"` operators (best
//! effort: fonts with custom encodings come out as their codes). Every bound below is a
//! documented constant; a file that goes past one is reported as [`PdfFacts::truncated`], which
//! the attachment check treats as uninspectable. Encrypted PDFs (`/Encrypt`) are reported but
//! not decrypted: their strings and streams stay unread.

use std::io::Read;

/// Streams decoded per file; more is uninspectable.
pub const MAX_STREAMS: usize = 2000;
/// Decoded bytes per stream (after the whole filter chain); more is uninspectable.
pub const MAX_DECODED_PER_STREAM: u64 = 8 << 20;
/// Decoded bytes per file, all streams together; more is uninspectable.
pub const MAX_DECODED_TOTAL: u64 = 32 << 20;
/// Filters applied to one stream; a longer chain is uninspectable.
pub const MAX_FILTERS: usize = 4;
/// `/URI` targets kept per file.
pub const MAX_URIS: usize = 1000;
/// Bytes of text kept per file (the rest is dropped, not a reason to hold the file).
pub const MAX_TEXT: usize = 1 << 20;
/// How far before `stream` the stream's dictionary is looked for.
const MAX_DICT: usize = 4096;

/// What [`scan`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PdfFacts {
    /// `/JavaScript` or `/JS`: script that runs in the reader.
    pub javascript: bool,
    /// `/Launch`: an action that starts a program or opens a file.
    pub launch: bool,
    /// `/OpenAction`: an action run when the document opens.
    pub open_action: bool,
    /// `/Encrypt`: strings and streams are encrypted and were not read.
    pub encrypted: bool,
    /// Targets of `/URI` actions, as written (escapes undone), at most [`MAX_URIS`].
    pub uris: Vec<String>,
    /// Text shown by the content streams, best effort, at most [`MAX_TEXT`] bytes.
    pub text: String,
    /// A bound was reached (streams, decoded bytes, filter chain): something was not read.
    pub truncated: bool,
    /// Streams whose filter is not decoded here (images, LZW, encryption …): not read.
    pub undecoded_streams: usize,
}

/// Reads `data` as a PDF. Never fails: what cannot be read is reported in the facts.
pub fn scan(data: &[u8]) -> PdfFacts {
    let mut facts = PdfFacts::default();
    look_at(data, false, &mut facts);
    let mut total = 0u64;
    let mut streams = 0usize;
    let mut pos = 0;
    while let Some(off) = find(&data[pos..], b"stream") {
        let kw = pos + off;
        let start = kw + b"stream".len();
        pos = start;
        // `endstream` contains `stream`.
        if data[..kw].ends_with(b"end") {
            continue;
        }
        let body_start = match data.get(start..start + 2) {
            Some(b"\r\n") => start + 2,
            Some([b'\n', _]) | Some([b'\r', _]) => start + 1,
            _ => continue,
        };
        streams += 1;
        if streams > MAX_STREAMS {
            facts.truncated = true;
            break;
        }
        let end = find(&data[body_start..], b"endstream").map_or(data.len(), |e| body_start + e);
        let dict = &data[kw.saturating_sub(MAX_DICT)..kw];
        let dict = match rfind(dict, b"obj") {
            Some(o) => &dict[o..],
            None => dict,
        };
        let cap = MAX_DECODED_PER_STREAM.min(MAX_DECODED_TOTAL.saturating_sub(total));
        match decode_stream(dict, &data[body_start..end], cap) {
            Decoded::Bytes(out, cut) => {
                total += out.len() as u64;
                facts.truncated |= cut;
                look_at(&out, true, &mut facts);
            }
            Decoded::TooManyFilters => facts.truncated = true,
            Decoded::Unsupported => facts.undecoded_streams += 1,
        }
        if total >= MAX_DECODED_TOTAL {
            facts.truncated = true;
            break;
        }
        pos = end;
    }
    facts
}

enum Decoded {
    /// The decoded bytes, and whether a size bound cut them.
    Bytes(Vec<u8>, bool),
    TooManyFilters,
    Unsupported,
}

/// The filter names of a stream dictionary, in order (`/Filter /X` or `/Filter [/X /Y]`).
fn filters(dict: &[u8]) -> Vec<Vec<u8>> {
    let Some(at) = rfind(dict, b"/Filter") else {
        return Vec::new();
    };
    let rest = dict[at + b"/Filter".len()..].trim_ascii_start();
    let list = match rest.first() {
        Some(b'[') => {
            let close = rest.iter().position(|&b| b == b']').unwrap_or(rest.len());
            &rest[1..close]
        }
        Some(b'/') => {
            let end = rest[1..]
                .iter()
                .position(|&b| is_delimiter(b))
                .map_or(rest.len(), |e| e + 1);
            &rest[..end]
        }
        _ => return Vec::new(),
    };
    list.split(|&b| b == b'/' || b.is_ascii_whitespace())
        .filter(|n| !n.is_empty())
        .map(unescape_name)
        .collect()
}

fn decode_stream(dict: &[u8], body: &[u8], cap: u64) -> Decoded {
    let chain = filters(dict);
    if chain.len() > MAX_FILTERS {
        return Decoded::TooManyFilters;
    }
    let mut data = body.to_vec();
    let mut cut = false;
    for f in &chain {
        data = match f.as_slice() {
            b"FlateDecode" | b"Fl" => {
                let (out, over) = inflate(&data, cap);
                cut |= over;
                out
            }
            b"ASCIIHexDecode" | b"AHx" => ascii_hex(&data),
            b"ASCII85Decode" | b"A85" => ascii85(&data),
            _ => return Decoded::Unsupported,
        };
        if data.len() as u64 > cap {
            data.truncate(cap as usize);
            cut = true;
        }
    }
    if chain.is_empty() && data.starts_with(b"\x78") {
        // No filter named (or the dictionary was not found): try zlib, as before.
        let (out, over) = inflate(&data, cap);
        if !out.is_empty() {
            return Decoded::Bytes(out, over);
        }
    }
    Decoded::Bytes(data, cut)
}

/// zlib, else raw deflate; at most `cap` bytes (the flag says the stream had more).
fn inflate(data: &[u8], cap: u64) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let _ = flate2::read::ZlibDecoder::new(data)
        .take(cap + 1)
        .read_to_end(&mut out);
    if out.is_empty() {
        let _ = flate2::read::DeflateDecoder::new(data)
            .take(cap + 1)
            .read_to_end(&mut out);
    }
    let over = out.len() as u64 > cap;
    out.truncate(cap as usize);
    (out, over)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// ASCIIHexDecode: hex pairs, whitespace ignored, `>` ends, an odd last digit is padded with 0.
fn ascii_hex(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2);
    let mut high: Option<u8> = None;
    for &b in data {
        if b == b'>' {
            break;
        }
        let Some(v) = hex(b) else { continue };
        match high.take() {
            Some(h) => out.push(h << 4 | v),
            None => high = Some(v),
        }
    }
    if let Some(h) = high {
        out.push(h << 4);
    }
    out
}

/// ASCII85Decode: groups of five `!`..`u`, `z` for four zeros, whitespace ignored, `~>` ends;
/// a short last group is padded with `u`.
fn ascii85(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 5 * 4 + 4);
    let mut group = [0u8; 5];
    let mut n = 0;
    let push = |group: &[u8; 5], n: usize, out: &mut Vec<u8>| {
        let mut padded = *group;
        padded[n..].fill(84); // 'u' - '!'
        let v = padded
            .iter()
            .fold(0u64, |a, &d| a * 85 + d as u64)
            .min(u32::MAX as u64) as u32;
        out.extend_from_slice(&v.to_be_bytes()[..n - 1]);
    };
    for &b in data {
        match b {
            b'~' => break,
            b'z' if n == 0 => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => {
                group[n] = b - b'!';
                n += 1;
                if n == 5 {
                    push(&group, 5, &mut out);
                    n = 0;
                }
            }
            _ => {}
        }
    }
    if n > 1 {
        push(&group, n, &mut out);
    }
    out
}

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace()
        || b == 0
        || matches!(
            b,
            b'/' | b'[' | b']' | b'(' | b')' | b'<' | b'>' | b'{' | b'}' | b'%'
        )
}

/// A name's bytes with `#xx` escapes undone (`J#61vaScript` is `JavaScript`).
fn unescape_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#' {
            if let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// Tokens of the PDF syntax that matter here.
enum Token {
    Name(Vec<u8>),
    Str(Vec<u8>),
    /// An operator or other bare word (`Tj`, `BT`, `obj` …).
    Word(Vec<u8>),
    Other,
}

/// Reads the tokens of `data`, noting names, URIs and (in decoded streams) shown text.
fn look_at(data: &[u8], in_stream: bool, facts: &mut PdfFacts) {
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let mut after_uri = false;
    let mut i = 0;
    while i < data.len() {
        let (tok, next) = token(data, i);
        i = next;
        match tok {
            Token::Name(n) => {
                after_uri = false;
                match n.as_slice() {
                    // AL-1.4: script, program launch and automatic actions.
                    b"JavaScript" | b"JS" => facts.javascript = true,
                    b"Launch" => facts.launch = true,
                    b"OpenAction" => facts.open_action = true,
                    b"Encrypt" if !in_stream => facts.encrypted = true,
                    b"URI" => after_uri = true,
                    _ => {}
                }
            }
            Token::Str(s) => {
                if after_uri && facts.uris.len() < MAX_URIS {
                    facts.uris.push(String::from_utf8_lossy(&s).into_owned());
                }
                after_uri = false;
                if in_stream {
                    pending.push(s);
                }
            }
            Token::Word(w) => {
                after_uri = false;
                if !in_stream && w == b"stream" {
                    // Stream bodies are read decoded by `scan`; raw, their bytes would be
                    // taken for strings.
                    i = find(&data[i..], b"endstream").map_or(data.len(), |e| i + e);
                    continue;
                }
                if matches!(w.as_slice(), b"Tj" | b"TJ" | b"'" | b"\"") {
                    for s in pending.drain(..) {
                        add_text(facts, &s);
                    }
                    add_text(facts, b" ");
                } else if !matches!(w.as_slice(), b"[" | b"]") && !is_number(&w) {
                    pending.clear();
                }
            }
            Token::Other => {}
        }
    }
}

fn is_number(w: &[u8]) -> bool {
    !w.is_empty()
        && w.iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'))
}

fn add_text(facts: &mut PdfFacts, s: &[u8]) {
    let left = MAX_TEXT.saturating_sub(facts.text.len());
    if left == 0 {
        return;
    }
    let t = String::from_utf8_lossy(s);
    let mut cut = t.len().min(left);
    while !t.is_char_boundary(cut) {
        cut -= 1;
    }
    facts.text.push_str(&t[..cut]);
}

/// The token at `i` and the position after it.
fn token(data: &[u8], i: usize) -> (Token, usize) {
    let b = data[i];
    match b {
        b'/' => {
            let mut j = i + 1;
            while j < data.len() && !is_delimiter(data[j]) && j - i < 128 {
                j += 1;
            }
            (Token::Name(unescape_name(&data[i + 1..j])), j)
        }
        b'(' => literal_string(data, i + 1),
        b'<' if data.get(i + 1) == Some(&b'<') => (Token::Other, i + 2),
        b'<' => {
            let end = data[i..]
                .iter()
                .position(|&c| c == b'>')
                .map_or(data.len(), |e| i + e);
            (
                Token::Str(ascii_hex(&data[i + 1..end])),
                (end + 1).min(data.len()),
            )
        }
        b'%' => {
            let end = data[i..]
                .iter()
                .position(|&c| c == b'\n' || c == b'\r')
                .map_or(data.len(), |e| i + e);
            (Token::Other, end)
        }
        b'[' | b']' => (Token::Word(vec![b]), i + 1),
        _ if is_delimiter(b) => (Token::Other, i + 1),
        _ => {
            let mut j = i;
            while j < data.len() && !is_delimiter(data[j]) && j - i < 128 {
                j += 1;
            }
            (Token::Word(data[i..j].to_vec()), j)
        }
    }
}

/// A `( … )` string starting after the `(`: balanced parentheses, backslash escapes, octal.
fn literal_string(data: &[u8], mut i: usize) -> (Token, usize) {
    let mut out = Vec::new();
    let mut depth = 1;
    while i < data.len() {
        let c = data[i];
        i += 1;
        match c {
            b'\\' => {
                let Some(&e) = data.get(i) else { break };
                i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'0'..=b'7' => {
                        let mut v = (e - b'0') as u32;
                        for _ in 0..2 {
                            match data.get(i) {
                                Some(&d @ b'0'..=b'7') => {
                                    v = v * 8 + (d - b'0') as u32;
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(v as u8);
                    }
                    // A backslash before a line end continues the string on the next line.
                    b'\r' => {
                        if data.get(i) == Some(&b'\n') {
                            i += 1;
                        }
                    }
                    b'\n' => {}
                    other => out.push(other),
                }
            }
            b'(' => {
                depth += 1;
                out.push(c);
            }
            b')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    (Token::Str(out), i)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    fn hex_of(data: &[u8]) -> Vec<u8> {
        let mut s: String = data.iter().map(|b| format!("{b:02X}")).collect();
        s.push('>');
        s.into_bytes()
    }

    fn a85_of(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in data.chunks(4) {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            let mut v = u32::from_be_bytes(b) as u64;
            let mut g = [0u8; 5];
            for d in g.iter_mut().rev() {
                *d = (v % 85) as u8 + b'!';
                v /= 85;
            }
            out.extend_from_slice(&g[..c.len() + 1]);
        }
        out.extend_from_slice(b"~>");
        out
    }

    /// A PDF with one stream object whose dictionary is `dict` and whose body is `body`.
    fn pdf_with_stream(dict: &str, body: &[u8]) -> Vec<u8> {
        let mut v = format!(
            "%PDF-1.5\n1 0 obj << /Type /Catalog >> endobj\n4 0 obj << {dict} >>\nstream\r\n"
        )
        .into_bytes();
        v.extend_from_slice(body);
        v.extend_from_slice(b"\r\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
        v
    }

    const JS: &[u8] = b"<< /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>";

    #[test]
    fn al_1_4_pdf_javascript_behind_flate() {
        let f = scan(&pdf_with_stream("/Filter /FlateDecode", &deflate(JS)));
        assert!(f.javascript && f.open_action, "{f:?}");
        assert!(!f.truncated);
    }

    #[test]
    fn al_1_4_pdf_javascript_behind_ascii_hex() {
        let f = scan(&pdf_with_stream("/Filter /ASCIIHexDecode", &hex_of(JS)));
        assert!(f.javascript, "{f:?}");
        // Abbreviated names and a chain: hex of deflate.
        let f = scan(&pdf_with_stream(
            "/Filter [/AHx /Fl]",
            &hex_of(&deflate(b"<< /S /Launch /F (cmd.exe) >>")),
        ));
        assert!(f.launch, "{f:?}");
    }

    #[test]
    fn al_1_4_pdf_javascript_in_an_object_stream() {
        // An object stream (PDF 1.5) behind ASCII85 then Flate: the objects inside are only
        // visible after both filters.
        let objs =
            b"5 0 6 20 << /Type /Action /S /J#61vaScript /JS (this.print()) >> << /A 5 0 R >>";
        let body = a85_of(&deflate(objs));
        let f = scan(&pdf_with_stream(
            "/Type /ObjStm /N 2 /First 8 /Filter [/ASCII85Decode /FlateDecode]",
            &body,
        ));
        assert!(f.javascript, "{f:?}");
    }

    #[test]
    fn uris_and_text_are_exposed() {
        let content = b"BT /F1 12 Tf 72 700 Td (Hello \\(world\\)) Tj [(Pay) -250 (ment)] TJ ET";
        let mut pdf = pdf_with_stream("/Length 99 /Filter /FlateDecode", &deflate(content));
        pdf.extend_from_slice(
            b"7 0 obj << /Type /Annot /A << /S /URI /URI (https://example.org/a\\051b) >> >> endobj\n\
              8 0 obj << /A << /S /URI /URI <68747470733A2F2F782E6578616D706C65> >> >> endobj\n",
        );
        let f = scan(&pdf);
        assert_eq!(f.uris, vec!["https://example.org/a)b", "https://x.example"]);
        assert!(f.text.contains("Hello (world)"), "{:?}", f.text);
        assert!(f.text.contains("Payment"), "{:?}", f.text);
        assert!(!f.javascript && !f.launch && !f.open_action);
    }

    #[test]
    fn bounds_make_it_truncated() {
        // A filter chain longer than MAX_FILTERS.
        let f = scan(&pdf_with_stream(
            "/Filter [/AHx /AHx /AHx /AHx /AHx]",
            b"00>",
        ));
        assert!(f.truncated);
        // A stream inflating past the per-stream bound.
        let big = deflate(&vec![b' '; (MAX_DECODED_PER_STREAM + 10) as usize]);
        let f = scan(&pdf_with_stream("/Filter /FlateDecode", &big));
        assert!(f.truncated);
        // Unknown filters are counted, not guessed at.
        let f = scan(&pdf_with_stream("/Filter /DCTDecode", b"\xFF\xD8\xFF"));
        assert_eq!((f.undecoded_streams, f.truncated), (1, false));
    }

    #[test]
    fn decoders() {
        assert_eq!(ascii_hex(b"48 65 6C6c6F7>"), b"Hellop");
        assert_eq!(ascii85(&a85_of(b"Hello, world")), b"Hello, world");
        assert_eq!(ascii85(b"z~>"), [0, 0, 0, 0]);
        assert_eq!(unescape_name(b"J#61vaScript"), b"JavaScript");
    }
}
