import FerryCore

/// A string a peer chose (an alias, a device model, a file or folder name, an error message from
/// the other side) made safe to show on one line: control characters, line breaks and invisible
/// format characters (such as U+202E, which shows `invoice\u{202E}fdp.exe` as `invoiceexe.pdf`)
/// are shown visibly, as `\n`, `\x1b`, `\u{202e}`; a backslash as `\\`. Ordinary text of any
/// script is unchanged. Keep the raw string for everything but showing it (trust, history, copying).
public func shownName(_ string: String) -> String {
    displaySafe(text: string, multiline: false)
}

/// A peer's text message made safe to show: like ``shownName(_:)``, but its line breaks and tabs stay.
public func shownText(_ string: String) -> String {
    displaySafe(text: string, multiline: true)
}
