//! Live capture: an interface sniffed through libpcap, a [`FrameSource`]
//! like any other.
//!
//! It reads non-blocking ([`Event::Idle`] when nothing is waiting) so that
//! the driver notices Ctrl-C / SIGTERM, `--duration` and `--count`
//! promptly; it stops cleanly in every case, so the caller writes the final
//! summary and complete files. The frames of handshakes followed can be
//! saved (`-w`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use pcap::{Active, Capture, Savefile};

use super::frame::{Event, Frame, FrameSource, timeval_us};
use crate::wire::decode::LinkType;

/// Snap length used by default: whole frames, so hellos are never cut.
pub const DEFAULT_SNAPLEN: i32 = 65535;

/// What to capture and when to stop.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Interface name (`any` for all, Linux cooked capture).
    pub interface: String,
    /// BPF filter expression, tcpdump syntax (empty: everything).
    pub filter: String,
    /// Promiscuous mode.
    pub promisc: bool,
    /// Bytes kept per frame.
    pub snaplen: i32,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many packets.
    pub count: Option<u64>,
    /// Save the frames of the handshakes seen to this pcap file.
    pub write: Option<std::path::PathBuf>,
}

/// Why the capture could not start or ended early.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Not allowed to capture.
    #[error(
        "cannot capture on {0}: permission denied; run as root or grant the binary the capabilities: setcap cap_net_raw,cap_net_admin=eip {1}"
    )]
    Permission(String, String),
    /// The interface does not exist.
    #[error("no such interface: {0} (see `tlsready interfaces`)")]
    NoSuchInterface(String),
    /// The BPF filter does not compile.
    #[error("bad capture filter \"{0}\": {1}")]
    Filter(String, String),
    /// The link type is not one we decode.
    #[error("{0}: unsupported link type {1}")]
    LinkType(String, i32),
    /// Cannot write the `-w` file.
    #[error("{0}: cannot write: {1}")]
    Savefile(String, String),
    /// Any other libpcap error (at start, or mid-run: the interface went away).
    #[error("capture on {0} failed: {1}")]
    Pcap(String, String),
}

/// Counts at the end of a capture.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaptureStats {
    /// Packets received by the filter (libpcap).
    pub received: u64,
    /// Packets dropped by the kernel (buffer full: the capture did not keep up).
    pub dropped: u64,
    /// Packets dropped by the interface or driver.
    pub if_dropped: u64,
    /// Frames written with `-w`.
    pub saved: u64,
}

fn classify_open_error(iface: &str, e: &pcap::Error) -> CaptureError {
    let msg = e.to_string();
    let low = msg.to_lowercase();
    if low.contains("permission") || low.contains("not permitted") {
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "tlsready".into());
        CaptureError::Permission(iface.to_string(), exe)
    } else if low.contains("no such device")
        || low.contains("doesn't exist")
        || low.contains("no such")
    {
        CaptureError::NoSuchInterface(iface.to_string())
    } else {
        CaptureError::Pcap(iface.to_string(), msg)
    }
}

/// An open live capture.
pub struct Live {
    cap: Capture<Active>,
    link: LinkType,
    save: Option<Savefile>,
    opts: CaptureOptions,
    stats: CaptureStats,
    /// The header of the frame last read (to save it).
    last: pcap::PacketHeader,
    /// The error that ended the capture.
    error: Option<CaptureError>,
}

impl Live {
    /// Opens the interface and sets the filter.
    pub fn open(opts: &CaptureOptions) -> Result<Live, CaptureError> {
        let iface = &opts.interface;
        let inactive =
            Capture::from_device(iface.as_str()).map_err(|e| classify_open_error(iface, &e))?;
        let mut cap = inactive
            .promisc(opts.promisc)
            .snaplen(opts.snaplen)
            // Not immediate mode: there libpcap gives every packet a
            // snaplen-sized slot, so the ring holds few packets (drops) or
            // takes much memory. Packets wait at most the timeout instead.
            .timeout(100)
            .buffer_size(8 << 20)
            .open()
            .map_err(|e| classify_open_error(iface, &e))?;
        if !opts.filter.is_empty() {
            cap.filter(&opts.filter, true)
                .map_err(|e| CaptureError::Filter(opts.filter.clone(), e.to_string()))?;
        }
        // libpcap on Linux may block in poll() past its timeout when no
        // packet arrives, so read non-blocking and pause briefly when idle:
        // stop requests are then seen within milliseconds.
        let cap = cap
            .setnonblock()
            .map_err(|e| CaptureError::Pcap(iface.clone(), e.to_string()))?;
        let dlt = cap.get_datalink();
        let link = LinkType::from_dlt(dlt.0)
            .ok_or_else(|| CaptureError::LinkType(iface.clone(), dlt.0))?;
        let save = match &opts.write {
            Some(p) => Some(
                cap.savefile(p)
                    .map_err(|e| CaptureError::Savefile(p.display().to_string(), e.to_string()))?,
            ),
            None => None,
        };
        Ok(Live {
            cap,
            link,
            save,
            opts: opts.clone(),
            stats: CaptureStats::default(),
            last: pcap::PacketHeader {
                ts: libc::timeval {
                    tv_sec: 0,
                    tv_usec: 0,
                },
                caplen: 0,
                len: 0,
            },
            error: None,
        })
    }

    /// The interface and filter, for messages.
    pub fn options(&self) -> &CaptureOptions {
        &self.opts
    }

    /// Counts so far, refreshed from libpcap; the `-w` file is flushed.
    pub fn tick(&mut self) -> CaptureStats {
        self.refresh_stats();
        if let Some(s) = self.save.as_mut() {
            let _ = s.flush();
        }
        self.stats
    }

    /// Ends the capture: the final counts, and the error that ended it
    /// early (the interface went away, the `-w` file cannot be written).
    pub fn finish(&mut self) -> (CaptureStats, Option<CaptureError>) {
        self.refresh_stats();
        let mut err = self.error.take();
        if let Some(s) = self.save.as_mut()
            && let Err(e) = s.flush()
        {
            let p = self
                .opts
                .write
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            err.get_or_insert(CaptureError::Savefile(p, e.to_string()));
        }
        (self.stats, err)
    }

    fn refresh_stats(&mut self) {
        if let Ok(s) = self.cap.stats() {
            self.stats.received = u64::from(s.received);
            self.stats.dropped = u64::from(s.dropped);
            self.stats.if_dropped = u64::from(s.if_dropped);
        }
    }
}

impl FrameSource for Live {
    fn next(&mut self) -> Event<'_> {
        if self.error.is_some() {
            return Event::End;
        }
        let link = self.link;
        match self.cap.next_packet() {
            Ok(p) => {
                self.last = *p.header;
                Event::Frame(Frame {
                    link,
                    ts_us: timeval_us(&p.header.ts),
                    data: p.data,
                    wire_len: p.header.len,
                })
            }
            Err(pcap::Error::TimeoutExpired) => Event::Idle,
            Err(e) => {
                self.error = Some(CaptureError::Pcap(
                    self.opts.interface.clone(),
                    e.to_string(),
                ));
                Event::End
            }
        }
    }

    fn saves(&self) -> bool {
        self.save.is_some()
    }

    fn keep(&mut self, data: &[u8]) {
        if let Some(s) = self.save.as_mut() {
            s.write(&pcap::Packet::new(&self.last, data));
            self.stats.saved += 1;
        }
    }
}

/// Registers SIGINT and SIGTERM to set the returned flag; a second one
/// while the flag is set ends the process at once (exit status 1).
pub fn stop_flag() -> std::io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Order matters: the conditional shutdown checks the flag before
        // the first handler sets it.
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&flag))?;
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    Ok(flag)
}

/// An interface as `tlsready interfaces` lists it.
#[derive(Debug, Clone)]
pub struct Interface {
    /// Name to give `capture -i`.
    pub name: String,
    /// `up,running,loopback`...
    pub state: String,
    /// Its addresses.
    pub addresses: String,
    /// libpcap's description.
    pub description: String,
    /// False for devices that carry no TCP/IP traffic (D-Bus, Bluetooth,
    /// USB, netfilter queues): capturing there finds nothing to analyse.
    pub carries_ip: bool,
}

/// Devices libpcap lists that carry no TCP/IP traffic, by name prefix.
const NOT_IP: [&str; 6] = ["dbus", "bluetooth", "usbmon", "nflog", "nfqueue", "can"];

/// The interfaces libpcap can open, in its order.
pub fn list_interfaces() -> Result<Vec<Interface>, CaptureError> {
    let devs =
        pcap::Device::list().map_err(|e| CaptureError::Pcap("interfaces".into(), e.to_string()))?;
    Ok(devs
        .into_iter()
        .map(|d| {
            let mut state = Vec::new();
            if d.flags.is_up() {
                state.push("up");
            }
            if d.flags.is_running() {
                state.push("running");
            }
            if d.flags.is_loopback() {
                state.push("loopback");
            }
            let addrs: Vec<String> = d.addresses.iter().map(|a| a.addr.to_string()).collect();
            Interface {
                carries_ip: !NOT_IP.iter().any(|p| d.name.starts_with(p)),
                name: d.name,
                state: state.join(","),
                addresses: addrs.join(" "),
                description: d.desc.unwrap_or_default(),
            }
        })
        .collect())
}
