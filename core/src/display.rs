//! Showing strings that came from a peer (aliases, device models, file and folder names, text
//! messages, error messages) to a person: on a terminal, in a log, in a notification.
//!
//! A peer chooses these strings, so raw they can drive a terminal (escape sequences that clear
//! the screen, set the window title or write the clipboard), forge lines (a line break in an alias
//! that prints a fake "verified, trusted" request), or reorder what is shown (U+202E makes
//! `invoice\u{202e}fdp.exe` display as `invoiceexe.pdf`). [`escape`] and [`escape_text`] show every
//! such character visibly instead, in a form that cannot be forged: a backslash is itself escaped,
//! so `\u{202e}` in the output always means the character, never the six characters typed by the peer.

use std::borrow::Cow;

/// True for a Unicode format character (general category Cf): invisible characters that change
/// how the text around them is shown, such as U+202E (right-to-left override), U+2066..U+2069
/// (bidirectional isolates), U+200B..U+200F, U+FEFF or the tag characters. Saved file names drop
/// them too ([`crate::storage`]).
pub fn is_format(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory};
    // Below U+0600 only U+00AD is one: most text (ASCII, Latin) needs no table look-up.
    c == '\u{ad}' || (c >= '\u{600}' && get_general_category(c) == GeneralCategory::Format)
}

/// True for a character that [`escape`] shows escaped: a control character (C0, DEL, C1), a
/// format character ([`is_format`]), a line or paragraph separator (U+2028, U+2029), or a
/// backslash (escaped so that escaped output cannot be forged).
pub fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\\' || c == '\u{2028}' || c == '\u{2029}' || is_format(c)
}

fn push_escaped(out: &mut String, c: char) {
    use std::fmt::Write;
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

fn escape_with(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let Some(first) = s.find(|c: char| needs_escape(c) && !keep(c)) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if needs_escape(c) && !keep(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A peer-supplied string made safe to show on one line (an alias, a device model, a file or
/// folder name, an error message): every control character (line breaks and tabs too), format
/// character and backslash is shown escaped, as `\n`, `\t`, `\r`, `\x1b` (other ASCII controls),
/// `\u{9b}` / `\u{202e}` (others) and `\\`. Everything else (letters of any script, emoji) is
/// kept, so `Zoë's 📷 café` is unchanged.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, |_| false)
}

/// A peer-supplied text message made safe to show: like [`escape`], but line breaks (`\n`, and
/// `\r\n` shown as `\n`) and tabs stay real; nothing else that controls a terminal does.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    let s: Cow<'_, str> = if s.contains("\r\n") { Cow::Owned(s.replace("\r\n", "\n")) } else { Cow::Borrowed(s) };
    match escape_with(&s, |c| c == '\n' || c == '\t') {
        Cow::Borrowed(_) => s,
        Cow::Owned(o) => Cow::Owned(o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Turns escaped output back into the original (the inverse of `escape`), to prove escaping
    /// is unambiguous.
    fn unescape(s: &str) -> String {
        let mut out = String::new();
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match it.next().expect("nothing after a backslash") {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'x' => {
                    let h: String = it.by_ref().take(2).collect();
                    out.push(char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap());
                }
                'u' => {
                    assert_eq!(it.next(), Some('{'));
                    let h: String = it.by_ref().take_while(|&c| c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap());
                }
                other => panic!("unknown escape \\{other}"),
            }
        }
        out
    }

    /// Nothing in `s` can steer a terminal or the direction of text.
    fn inert(s: &str) -> bool {
        s.chars().all(|c| !c.is_control() && !is_format(c) && c != '\u{2028}' && c != '\u{2029}')
    }

    #[test]
    fn display_every_control_character_is_escaped() {
        let controls = (0u32..0x20).chain([0x7f]).chain(0x80..0xa0);
        for c in controls.map(|c| char::from_u32(c).unwrap()) {
            let raw = format!("a{c}b");
            let e = escape(&raw);
            assert!(inert(&e), "{c:?} -> {e:?}");
            assert!(e.starts_with("a\\") && e.ends_with('b') && e.len() > 3, "{c:?} -> {e:?}");
            assert_eq!(unescape(&e), raw);
        }
        assert_eq!(escape("\u{1b}]0;pwned\u{7}"), "\\x1b]0;pwned\\x07");
        assert_eq!(escape("\u{9b}2J\u{85}"), "\\u{9b}2J\\u{85}");
        assert_eq!(escape("a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(escape("\u{7f}\0"), "\\x7f\\x00");
    }

    #[test]
    fn display_every_format_character_is_escaped() {
        let mut n = 0;
        for c in (0u32..0x110000).filter_map(char::from_u32).filter(|&c| is_format(c)) {
            n += 1;
            let raw = format!("x{c}y");
            let e = escape(&raw);
            assert_eq!(e, format!("x\\u{{{:x}}}y", c as u32));
            assert!(inert(&e));
            assert_eq!(escape_text(&raw), e);
        }
        assert!(n >= 160, "{n} format characters");
        for c in [
            '\u{202e}',
            '\u{202a}',
            '\u{202d}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{feff}',
            '\u{61c}',
            '\u{ad}',
            '\u{e0041}',
        ] {
            assert!(is_format(c), "{c:?}");
        }
        assert_eq!(escape("invoice\u{202e}fdp.exe"), "invoice\\u{202e}fdp.exe");
        assert_eq!(escape("a\u{2028}b\u{2029}c"), "a\\u{2028}b\\u{2029}c");
    }

    #[test]
    fn display_backslash_cannot_forge_an_escape() {
        // A peer typing the escaped form gets something that differs from the real character's.
        let typed = "invoice\\u{202e}fdp.exe";
        let real = "invoice\u{202e}fdp.exe";
        assert_ne!(escape(typed), escape(real));
        assert_eq!(escape(typed), "invoice\\\\u{202e}fdp.exe");
        for s in ["\\", "\\\\x1b", "a\\nb", "\\u{9b}", "\u{1b}\\x1b", "end\\"] {
            assert_eq!(unescape(&escape(s)), s);
            assert_eq!(unescape(&escape_text(s)), s);
        }
    }

    #[test]
    fn display_ordinary_unicode_is_unchanged() {
        for s in ["Zoë's 📷 café", "Пётр", "東京の写真.jpg", "שלום", "مرحبا", "e\u{301}", "👍🏽", ""] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
            assert!(matches!(escape_text(s), Cow::Borrowed(_)), "{s}");
        }
        // A zero-width joiner is a format character too (it can hide inside a name that looks
        // familiar); it is shown, even inside an emoji sequence.
        assert_eq!(escape("👩\u{200d}💻"), "👩\\u{200d}💻");
    }

    #[test]
    fn display_text_keeps_line_breaks_and_tabs_only() {
        assert_eq!(escape_text("one\ntwo\tthree"), "one\ntwo\tthree");
        assert_eq!(escape_text("one\r\ntwo"), "one\ntwo");
        assert_eq!(escape_text("fake\rline"), "fake\\rline");
        let osc52 = "hi\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J";
        let e = escape_text(osc52);
        assert!(inert(&e.replace(['\n', '\t'], "")), "{e:?}");
        assert_eq!(e, "hi\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J");
        assert_eq!(escape_text("a\u{85}b\u{b}c\u{c}d"), "a\\u{85}b\\x0bc\\x0cd");
    }
}
