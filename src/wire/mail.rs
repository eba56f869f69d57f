//! Plaintext mail dialogues before TLS: SMTP, IMAP and POP3 with STARTTLS.
//!
//! [`Dialogue`] reads both directions' plaintext line by line. It recognises
//! the protocol by content (the server greeting or the client's commands,
//! never the port), keeps the server's greeting host name and the client's
//! EHLO/HELO name, and follows the STARTTLS (SMTP, IMAP) or STLS (POP3)
//! request and its answer. Lines longer than [`MAX_LINE`] are cut.

use base64::Engine as _;

use crate::text::escape_name;

/// Longest line kept; longer lines are cut (their head is still read).
pub const MAX_LINE: usize = 1024;
/// Text read per direction; past this the dialogue stops reading.
pub const MAX_TEXT: usize = 8 * 1024;

/// A mail protocol recognised in plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailProtocol {
    /// SMTP (submission or relay).
    Smtp,
    /// IMAP4.
    Imap,
    /// POP3.
    Pop3,
}

impl MailProtocol {
    /// `smtp`, `imap` or `pop3`.
    pub fn name(self) -> &'static str {
        match self {
            MailProtocol::Smtp => "smtp",
            MailProtocol::Imap => "imap",
            MailProtocol::Pop3 => "pop3",
        }
    }
}

/// Where the STARTTLS exchange stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StartTls {
    /// Not asked for.
    #[default]
    NotRequested,
    /// The client asked; no answer yet.
    Requested,
    /// The server agreed: TLS follows.
    Accepted,
    /// The server refused.
    Refused,
}

/// The plaintext dialogue of one connection.
#[derive(Debug, Default, Clone)]
pub struct Dialogue {
    partial: [Vec<u8>; 2],
    read: [usize; 2],
    /// Protocol recognised, if any.
    pub protocol: Option<MailProtocol>,
    server_side: Option<usize>,
    client_side: Option<usize>,
    /// Host name from the server's greeting (escaped).
    pub banner_host: Option<String>,
    /// Name the client gave in EHLO/HELO (escaped).
    pub client_helo: Option<String>,
    /// STARTTLS state.
    pub starttls: StartTls,
    imap_tag: Option<Vec<u8>>,
    /// Client commands seen (beyond the greeting exchange).
    pub commands: u32,
    /// Mail was handed over in plaintext (MAIL FROM, AUTH, LOGIN, USER...).
    pub transaction: bool,
    /// Lines read without recognising a mail protocol.
    unknown_lines: u32,
    /// SMTP: the greeting's last line went by.
    smtp_greeted: bool,
    /// SMTP: commands sent and final replies received, to pair each reply
    /// with its command (clients may pipeline; replies may be multi-line).
    smtp_cmds: u32,
    smtp_replies: u32,
    /// SMTP: index of the STARTTLS command.
    starttls_cmd: u32,
}

/// An SMTP final reply line: three digits then a space or the end
/// (`250-` lines continue a multi-line reply).
fn smtp_final(line: &[u8]) -> bool {
    line.len() >= 3
        && line[..3].iter().all(u8::is_ascii_digit)
        && line.get(3).is_none_or(|&b| b == b' ')
}

/// Lines without a mail greeting or command after which the dialogue stops
/// reading (HTTP, XMPP, ... are not mail).
const MAX_UNKNOWN_LINES: u32 = 2;

fn strip_eol(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let Some((&last, rest)) = l.split_last() {
        if last == b'\r' || last == b'\n' {
            l = rest;
        } else {
            break;
        }
    }
    l
}

fn starts_ci(line: &[u8], word: &[u8]) -> bool {
    line.len() >= word.len() && line[..word.len()].eq_ignore_ascii_case(word)
}

fn token(line: &[u8], n: usize) -> Option<&[u8]> {
    line.split(|&b| b == b' ').filter(|t| !t.is_empty()).nth(n)
}

/// A plausible DNS host name (letters, digits, '-', '.', at least one dot).
fn host_like(t: &[u8]) -> bool {
    !t.is_empty()
        && t.len() <= 253
        && t.contains(&b'.')
        && t.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
}

/// Microsoft's IMAP/POP3 greetings carry the server name as base64 of
/// UTF-16LE in brackets: `[QQBNADAA...]`.
fn bracketed_host(line: &[u8]) -> Option<String> {
    let start = line.iter().rposition(|&b| b == b'[')?;
    let end = start + line[start..].iter().position(|&b| b == b']')?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&line[start + 1..end])
        .ok()?;
    if raw.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let s = String::from_utf16(&units).ok()?;
    host_like(s.as_bytes()).then_some(s)
}

impl Dialogue {
    /// Memory held, for the run's memory budget.
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.partial.iter().map(Vec::capacity).sum::<usize>()
            + self.imap_tag.as_ref().map_or(0, Vec::capacity)
    }

    /// Feeds plaintext sent by `side` (0 or 1).
    pub fn text(&mut self, side: usize, data: &[u8]) {
        let side = side & 1;
        let mut rest = data;
        // Line by line, so that the limits apply the same however the
        // text was split into segments.
        while self.unknown_lines < MAX_UNKNOWN_LINES && !rest.is_empty() {
            let room = MAX_TEXT.saturating_sub(self.read[side]);
            if room == 0 {
                break;
            }
            let chunk = &rest[..rest.len().min(room)];
            let (head, line_done) = match memchr::memchr(b'\n', chunk) {
                Some(nl) => (&chunk[..=nl], true),
                None => (chunk, false),
            };
            rest = &rest[head.len()..];
            self.read[side] += head.len();
            let p = &mut self.partial[side];
            p.extend_from_slice(&head[..head.len().min(MAX_LINE.saturating_sub(p.len()))]);
            if line_done {
                let line = std::mem::take(&mut self.partial[side]);
                self.line(side, strip_eol(&line));
            }
        }
    }

    /// End of a direction's plaintext: a last line without newline counts.
    pub fn end(&mut self, side: usize) {
        let side = side & 1;
        let line = std::mem::take(&mut self.partial[side]);
        if !line.is_empty() {
            self.line(side, strip_eol(&line));
        }
    }

    /// The side that spoke as the mail client, once known.
    pub fn client_side(&self) -> Option<usize> {
        self.client_side
            .or(self.server_side.map(|s| 1 - s))
            .filter(|_| self.protocol.is_some())
    }

    /// Protocol column value when TLS followed STARTTLS: `smtp-starttls`...
    pub fn starttls_label(&self) -> Option<&'static str> {
        self.protocol.map(|p| match p {
            MailProtocol::Smtp => "smtp-starttls",
            MailProtocol::Imap => "imap-starttls",
            MailProtocol::Pop3 => "pop3-starttls",
        })
    }

    fn line(&mut self, side: usize, line: &[u8]) {
        let from_server = match (self.server_side, self.client_side) {
            (Some(s), _) => side == s,
            (None, Some(c)) => side != c,
            (None, None) => self.greeting(side, line),
        };
        if from_server {
            self.server_line(line);
        } else {
            self.client_line(side, line);
        }
        if self.protocol.is_none() {
            self.unknown_lines += 1;
        }
    }

    /// First line of the dialogue from either side: a greeting makes that
    /// side the server. Returns true when the line was a greeting.
    fn greeting(&mut self, side: usize, line: &[u8]) -> bool {
        let proto =
            if line.len() >= 4 && &line[..3] == b"220" && (line[3] == b' ' || line[3] == b'-') {
                Some(MailProtocol::Smtp)
            } else if starts_ci(line, b"* OK") || starts_ci(line, b"* PREAUTH") {
                Some(MailProtocol::Imap)
            } else if starts_ci(line, b"+OK") {
                Some(MailProtocol::Pop3)
            } else {
                None
            };
        let Some(p) = proto else { return false };
        self.protocol = Some(p);
        self.server_side = Some(side);
        let host = match p {
            MailProtocol::Smtp => token(&line[4..], 0)
                .filter(|t| host_like(t))
                .map(escape_name),
            _ => None,
        };
        self.banner_host = host.or_else(|| bracketed_host(line));
        true
    }

    fn server_line(&mut self, line: &[u8]) {
        if self.protocol == Some(MailProtocol::Smtp) && !self.smtp_greeted && smtp_final(line) {
            self.smtp_greeted = true;
            return;
        }
        if self.starttls != StartTls::Requested {
            if self.protocol == Some(MailProtocol::Smtp) && smtp_final(line) {
                self.smtp_replies += 1;
            }
            return;
        }
        let verdict = match self.protocol {
            Some(MailProtocol::Smtp) => {
                if !smtp_final(line) {
                    return;
                }
                if !self.smtp_greeted {
                    self.smtp_greeted = true;
                    return;
                }
                self.smtp_replies += 1;
                if self.smtp_replies != self.starttls_cmd + 1 {
                    return; // the reply to an earlier, pipelined command
                }
                match line.first() {
                    Some(b'2') => Some(true),
                    Some(b'4' | b'5') => Some(false),
                    _ => None,
                }
            }
            Some(MailProtocol::Imap) => {
                let tag = self.imap_tag.as_deref().unwrap_or(b"");
                match (token(line, 0), token(line, 1)) {
                    (Some(t), Some(r)) if t == tag => Some(r.eq_ignore_ascii_case(b"OK")),
                    _ => None,
                }
            }
            Some(MailProtocol::Pop3) => {
                if starts_ci(line, b"+OK") {
                    Some(true)
                } else if starts_ci(line, b"-ERR") {
                    Some(false)
                } else {
                    None
                }
            }
            None => None,
        };
        match verdict {
            Some(true) => self.starttls = StartTls::Accepted,
            Some(false) => self.starttls = StartTls::Refused,
            None => {}
        }
    }

    fn client_line(&mut self, side: usize, line: &[u8]) {
        let first = token(line, 0).unwrap_or(b"");
        let is = |w: &[u8]| first.eq_ignore_ascii_case(w);
        if is(b"EHLO") || is(b"HELO") {
            if self.protocol.is_none() {
                // No greeting was captured: replies start with this one.
                self.smtp_greeted = true;
            }
            self.protocol.get_or_insert(MailProtocol::Smtp);
            self.client_side.get_or_insert(side);
            self.smtp_cmds += 1;
            if let Some(name) = token(line, 1) {
                self.client_helo = Some(escape_name(name));
            }
            return;
        }
        if self.protocol.is_none() {
            // IMAP commands are tagged: "a001 STARTTLS", "a1 CAPABILITY".
            let second = token(line, 1).unwrap_or(b"");
            if second.eq_ignore_ascii_case(b"STARTTLS")
                || second.eq_ignore_ascii_case(b"CAPABILITY")
            {
                self.protocol = Some(MailProtocol::Imap);
            } else if is(b"STLS") || is(b"CAPA") {
                self.protocol = Some(MailProtocol::Pop3);
            } else {
                return;
            }
            self.client_side.get_or_insert(side);
        }
        self.commands += 1;
        match self.protocol {
            Some(MailProtocol::Smtp) => {
                if self.transaction {
                    return; // message text, not commands
                }
                if is(b"STARTTLS") {
                    self.starttls = StartTls::Requested;
                    self.starttls_cmd = self.smtp_cmds;
                } else if is(b"MAIL") || is(b"RCPT") || is(b"DATA") || is(b"AUTH") {
                    self.transaction = true;
                }
                self.smtp_cmds += 1;
            }
            Some(MailProtocol::Imap) => {
                let cmd = token(line, 1).unwrap_or(b"");
                if cmd.eq_ignore_ascii_case(b"STARTTLS") {
                    self.starttls = StartTls::Requested;
                    self.imap_tag = Some(first.to_vec());
                } else if ["LOGIN", "AUTHENTICATE", "SELECT", "EXAMINE"]
                    .iter()
                    .any(|c| cmd.eq_ignore_ascii_case(c.as_bytes()))
                {
                    self.transaction = true;
                }
            }
            Some(MailProtocol::Pop3) => {
                if is(b"STLS") {
                    self.starttls = StartTls::Requested;
                } else if is(b"USER") || is(b"PASS") || is(b"APOP") || is(b"AUTH") || is(b"RETR") {
                    self.transaction = true;
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talk(d: &mut Dialogue, script: &[(usize, &str)]) {
        for (side, text) in script {
            d.text(*side, text.as_bytes());
        }
    }

    #[test]
    fn smtp_starttls_accepted() {
        let mut d = Dialogue::default();
        talk(
            &mut d,
            &[
                (
                    1,
                    "220 AM0PR01CA0001.outlook.office365.com Microsoft ESMTP MAIL Service ready\r\n",
                ),
                (0, "EHLO printer01.corp.example\r\n"),
                (
                    1,
                    "250-AM0PR01CA0001.outlook.office365.com Hello\r\n250-STARTTLS\r\n250 SIZE 1000\r\n",
                ),
                (0, "STARTTLS\r\n"),
                (1, "220 2.0.0 SMTP server ready\r\n"),
            ],
        );
        assert_eq!(d.protocol, Some(MailProtocol::Smtp));
        assert_eq!(
            d.banner_host.as_deref(),
            Some("AM0PR01CA0001.outlook.office365.com")
        );
        assert_eq!(d.client_helo.as_deref(), Some("printer01.corp.example"));
        assert_eq!(d.starttls, StartTls::Accepted);
        assert_eq!(d.client_side(), Some(0));
    }

    #[test]
    fn smtp_refused_and_plaintext() {
        let mut d = Dialogue::default();
        talk(
            &mut d,
            &[
                (0, "220 mx.example.net ESMTP\r\n"),
                (1, "EHLO scan\r\n"),
                (0, "250 mx.example.net\r\n"),
                (1, "STARTTLS\r\n"),
                (0, "454 4.7.0 TLS not available\r\n"),
            ],
        );
        assert_eq!(d.starttls, StartTls::Refused);
        assert_eq!(d.client_side(), Some(1));
        let mut p = Dialogue::default();
        talk(
            &mut p,
            &[
                (1, "220 mx ESMTP\r\n"),
                (0, "HELO box\r\nMAIL FROM:<a@b>\r\n"),
            ],
        );
        assert!(p.transaction);
        assert_eq!(p.starttls, StartTls::NotRequested);
        assert_eq!(p.banner_host, None);
    }

    #[test]
    fn smtp_pipelined_and_multiline_replies() {
        let mut d = Dialogue::default();
        talk(
            &mut d,
            &[
                (1, "220-mx.example.net ESMTP\r\n220 ready\r\n"),
                (0, "EHLO scanner\r\nSTARTTLS\r\n"),
                (1, "250-mx.example.net\r\n250-SIZE 1000\r\n250 HELP\r\n"),
            ],
        );
        // The EHLO reply is not the answer to STARTTLS.
        assert_eq!(d.starttls, StartTls::Requested);
        d.text(1, b"454 4.7.0 TLS not available\r\n");
        assert_eq!(d.starttls, StartTls::Refused);
        assert_eq!(d.banner_host.as_deref(), Some("mx.example.net"));
    }

    #[test]
    fn imap_and_pop3() {
        let mut d = Dialogue::default();
        talk(
            &mut d,
            &[
                (
                    1,
                    "* OK The Microsoft Exchange IMAP4 service is ready. [QQBNADAAUABSADAAMQBDAEEAMAAwADAAMQAuAG8AdQB0AGwAbwBvAGsALgBjAG8AbQA=]\r\n",
                ),
                (0, "a001 STARTTLS\r\n"),
                (1, "a001 OK Begin TLS negotiation now.\r\n"),
            ],
        );
        assert_eq!(d.protocol, Some(MailProtocol::Imap));
        assert_eq!(d.banner_host.as_deref(), Some("AM0PR01CA0001.outlook.com"));
        assert_eq!(d.starttls, StartTls::Accepted);
        let mut p = Dialogue::default();
        talk(
            &mut p,
            &[
                (0, "+OK POP3 ready\r\n"),
                (1, "STLS\r\n"),
                (0, "-ERR not now\r\n"),
            ],
        );
        assert_eq!(p.protocol, Some(MailProtocol::Pop3));
        assert_eq!(p.starttls, StartTls::Refused);
    }

    #[test]
    fn lines_split_across_packets_and_bounded() {
        let mut d = Dialogue::default();
        for b in "220 mail.example.org ESMTP\r\nEH".bytes() {
            d.text(1, &[b]);
        }
        d.text(0, b"EHLO dev");
        d.end(0);
        assert_eq!(d.client_helo.as_deref(), Some("dev"));
        assert_eq!(d.banner_host.as_deref(), Some("mail.example.org"));
        let mut big = Dialogue::default();
        big.text(0, &vec![b'x'; 100_000]);
        big.end(0);
        assert_eq!(big.protocol, None);
    }

    #[test]
    fn limits_do_not_depend_on_segmentation() {
        // Found by fuzzing: several non-mail lines in one chunk used to be
        // read past the give-up point.
        let text = b"GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
        let mut whole = Dialogue::default();
        whole.text(0, text);
        let mut bytes = Dialogue::default();
        for b in text.chunks(1) {
            bytes.text(0, b);
        }
        assert_eq!(format!("{whole:?}"), format!("{bytes:?}"));
    }

    #[test]
    fn not_mail() {
        let mut d = Dialogue::default();
        talk(
            &mut d,
            &[
                (0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                (1, "HTTP/1.1 200 OK\r\n"),
            ],
        );
        assert_eq!(d.protocol, None);
        assert_eq!(d.client_side(), None);
    }
}
