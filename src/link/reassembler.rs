//! Putting a unit back together from its fragments, one unit at a time, in one buffer allocated
//! at construction (spec/LINK.md section 5).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, LinkError, Local};
use crate::link::{Fragment, Mtu, MAX_UNIT};

/// The unit a [`Reassembler`] is assembling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The unit's number modulo 64.
    pub number: u8,
    /// The index the next fragment must have (1..=255).
    pub next_index: u8,
    /// Bytes of the unit received so far.
    pub received: u16,
    /// The unit's length, from its START fragment.
    pub unit_len: u16,
}

/// Idle, or assembling one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Assembling(Progress),
}

/// What one accepted fragment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Pushed<'a> {
    /// The unit this fragment completed: borrowed from the fragment when it is the whole unit,
    /// otherwise from the reassembler's buffer, until the next call.
    pub unit: Option<&'a [u8]>,
    /// This START fragment abandoned a unit that was in progress (its end was lost). The
    /// fragment itself was accepted: it began a new unit, or was one.
    pub interrupted: bool,
}

/// Reassembles units from fragments as they arrive, sans-I/O: hand it every attribute value the
/// connection delivers, in order.
///
/// It holds at most one unit in progress, in a buffer of `max_unit` bytes allocated once by
/// [`Reassembler::new`]; nothing a peer sends makes it allocate or keep more. Every error drops
/// the fragment and leaves the reassembler idle: a unit in progress is abandoned, and the next
/// START fragment begins afresh. A fragment never changes anything before all of its checks
/// pass.
///
/// ```
/// use tether::link::{Fragmenter, Mtu, Reassembler};
///
/// let record = [0x10; 100]; // a datagram record from the peer
/// let mut rx = Reassembler::new(tether::link::DEFAULT_MAX_UNIT)?;
/// rx.set_mtu(Mtu::DEFAULT); // once the connection's ATT_MTU is known
/// let mut frags = Fragmenter::new(&record, Mtu::DEFAULT, 0)?;
/// let mut value = [0u8; 20];
/// let mut units = 0;
/// while let Some(n) = frags.next(&mut value)? {
///     // In the write or notification handler:
///     if let Some(unit) = rx.push(&value[..n])?.unit {
///         // session.open(now, unit, &mut plaintext)?;
///         assert_eq!(unit, record);
///         units += 1;
///     }
/// }
/// assert_eq!(units, 1);
/// # Ok::<(), tether::Error>(())
/// ```
pub struct Reassembler {
    /// Holds the unit in progress; `max_unit` bytes.
    buf: Vec<u8>,
    state: State,
    mtu: Mtu,
}

impl fmt::Debug for Reassembler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reassembler")
            .field("max_unit", &self.buf.len())
            .field("mtu", &self.mtu)
            .field("state", &self.state)
            .finish()
    }
}

impl Reassembler {
    /// A reassembler for units of 1 to `max_unit` bytes ([`crate::link::DEFAULT_MAX_UNIT`]
    /// holds every record of the delivery layer and every handshake message); allocates
    /// `max_unit` bytes once. [`Local::Config`] for 0 or above 65535.
    ///
    /// It accepts fragments of any ATT_MTU (up to 512 bytes) until [`Reassembler::set_mtu`]
    /// names the connection's.
    pub fn new(max_unit: usize) -> Result<Self, Error> {
        if max_unit == 0 || max_unit > MAX_UNIT {
            return Err(Local::Config.into());
        }
        Ok(Reassembler {
            buf: vec![0; max_unit],
            state: State::Idle,
            mtu: Mtu::LARGEST,
        })
    }

    /// Sets the connection's ATT_MTU: longer fragments are refused from now on. A unit in
    /// progress is kept (an MTU only grows during a connection).
    pub fn set_mtu(&mut self, mtu: Mtu) {
        self.mtu = mtu;
    }

    /// The ATT_MTU whose fragments this reassembler accepts.
    pub fn mtu(&self) -> Mtu {
        self.mtu
    }

    /// The largest unit this reassembler accepts.
    pub fn max_unit(&self) -> usize {
        self.buf.len()
    }

    /// The unit in progress, if any.
    pub fn in_progress(&self) -> Option<Progress> {
        match self.state {
            State::Idle => None,
            State::Assembling(p) => Some(p),
        }
    }

    /// Abandons the unit in progress, if any (returns whether there was one). Call it when the
    /// connection drops: its fragments cannot continue on the next connection.
    pub fn reset(&mut self) -> bool {
        let was = self.state != State::Idle;
        self.state = State::Idle;
        was
    }

    /// Takes the next fragment the connection delivered. Returns the unit it completed, if any,
    /// and whether it abandoned a unit in progress (a START fragment that arrives before the
    /// previous unit's END: that unit is abandoned and the new one kept).
    ///
    /// On an error (a [`LinkError`]) the fragment is dropped and the reassembler is idle: the
    /// unit in progress, if any, is abandoned. Nothing changes before every check has passed.
    ///
    /// The two lifetimes let the unit borrow the fragment itself when it is a whole unit (no
    /// copy); a unit of several fragments borrows the reassembler's buffer.
    pub fn push<'s, 'f: 's>(&'s mut self, fragment: &'f [u8]) -> Result<Pushed<'s>, Error> {
        match self.check(fragment) {
            Ok(step) => Ok(self.apply(step)),
            Err(e) => {
                self.state = State::Idle;
                Err(e)
            }
        }
    }

    /// Every check of spec/LINK.md section 5.2, in its order; changes nothing.
    fn check<'f>(&self, fragment: &'f [u8]) -> Result<Step<'f>, Error> {
        if fragment.len() > self.mtu.max_fragment() {
            return Err(LinkError::TooLong.into());
        }
        let frag = Fragment::parse(fragment)?;
        let (progress, interrupted) = match (frag.unit_len(), self.state) {
            (Some(unit_len), state) => {
                let len = usize::from(unit_len);
                if len == 0 || len > self.buf.len() || len > self.mtu.max_unit() {
                    return Err(LinkError::Oversized.into());
                }
                let start = Progress {
                    number: frag.number(),
                    next_index: 0,
                    received: 0,
                    unit_len,
                };
                (start, state != State::Idle)
            }
            (None, State::Idle) => return Err(LinkError::NotStarted.into()),
            (None, State::Assembling(p)) => {
                if frag.number() != p.number {
                    return Err(LinkError::WrongUnit.into());
                }
                if frag.index() > p.next_index {
                    return Err(LinkError::Gap.into());
                }
                if frag.index() < p.next_index {
                    return Err(LinkError::Duplicate.into());
                }
                (p, false)
            }
        };
        let payload = frag.payload();
        let received = usize::from(progress.received) + payload.len();
        if received > usize::from(progress.unit_len) {
            return Err(LinkError::Overrun.into());
        }
        // `received <= unit_len`, so it fits 16 bits.
        let received = u16::try_from(received).map_err(|_| LinkError::Overrun)?;
        let next_index = if frag.is_end() {
            if received < progress.unit_len {
                return Err(LinkError::Incomplete.into());
            }
            None
        } else {
            // Index 255 without END: no fragment can follow, so the unit never ends.
            Some(frag.index().checked_add(1).ok_or(LinkError::Incomplete)?)
        };
        Ok(Step {
            interrupted,
            payload,
            offset: usize::from(progress.received),
            next: next_index.map(|next_index| Progress {
                next_index,
                received,
                ..progress
            }),
        })
    }

    /// Commits a checked fragment.
    fn apply<'s, 'f: 's>(&'s mut self, step: Step<'f>) -> Pushed<'s> {
        let interrupted = step.interrupted;
        let end = step.offset + step.payload.len();
        if step.next.is_none() && step.offset == 0 {
            // The whole unit in one fragment: lend it as it is.
            self.state = State::Idle;
            return Pushed {
                unit: Some(step.payload),
                interrupted,
            };
        }
        if let Some(dst) = self.buf.get_mut(step.offset..end) {
            dst.copy_from_slice(step.payload);
        }
        match step.next {
            Some(progress) => {
                self.state = State::Assembling(progress);
                Pushed {
                    unit: None,
                    interrupted,
                }
            }
            None => {
                self.state = State::Idle;
                Pushed {
                    unit: self.buf.get(..end),
                    interrupted,
                }
            }
        }
    }
}

/// A fragment that passed every check, and what it leads to.
struct Step<'f> {
    /// A START fragment that abandons the unit in progress.
    interrupted: bool,
    payload: &'f [u8],
    /// Where `payload` goes in the unit.
    offset: usize,
    /// The unit in progress after this fragment, or `None` when it completes the unit.
    next: Option<Progress>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{Fragmenter, DEFAULT_MAX_UNIT, MAX_ATTRIBUTE_VALUE, MAX_FRAGMENTS};
    use proptest::prelude::*;
    use std::vec::Vec;

    fn frags(unit: &[u8], mtu: Mtu, number: u8) -> Vec<Vec<u8>> {
        let mut f = Fragmenter::new(unit, mtu, number).unwrap();
        let mut buf = [0u8; MAX_ATTRIBUTE_VALUE];
        let mut out = Vec::new();
        while let Some(n) = f.next(&mut buf).unwrap() {
            out.push(buf[..n].to_vec());
        }
        out
    }

    fn unit(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    /// What `push` did, owned, so a test can compare it after the borrow ends.
    #[derive(Debug, PartialEq, Eq)]
    enum Got {
        Pending { interrupted: bool },
        Unit { unit: Vec<u8>, interrupted: bool },
        Refused(LinkError),
    }

    fn push(r: &mut Reassembler, fragment: &[u8]) -> Got {
        match r.push(fragment) {
            Ok(Pushed {
                unit: Some(u),
                interrupted,
            }) => Got::Unit {
                unit: u.to_vec(),
                interrupted,
            },
            Ok(Pushed {
                unit: None,
                interrupted,
            }) => Got::Pending { interrupted },
            Err(Error::Link(e)) => Got::Refused(e),
            Err(e) => panic!("not a link error: {e:?}"),
        }
    }

    const PENDING: Got = Got::Pending { interrupted: false };

    fn done(unit: &[u8]) -> Got {
        Got::Unit {
            unit: unit.to_vec(),
            interrupted: false,
        }
    }

    fn rx() -> Reassembler {
        let mut r = Reassembler::new(DEFAULT_MAX_UNIT).unwrap();
        r.set_mtu(Mtu::DEFAULT);
        r
    }

    /// Checks that `e` left `r` idle with the unit abandoned: the next fragment of `rest` (a
    /// continuation of the abandoned unit) finds no unit in progress.
    fn refused_then_idle(r: &mut Reassembler, fragment: &[u8], e: LinkError, rest: &[u8]) {
        assert_eq!(push(r, fragment), Got::Refused(e));
        assert_eq!(r.in_progress(), None);
        assert_eq!(push(r, rest), Got::Refused(LinkError::NotStarted));
    }

    #[test]
    fn construction() {
        assert_eq!(Reassembler::new(0).map(|_| ()), Err(Local::Config.into()));
        assert_eq!(
            Reassembler::new(65536).map(|_| ()),
            Err(Local::Config.into())
        );
        let r = Reassembler::new(65535).unwrap();
        assert_eq!((r.max_unit(), r.mtu()), (65535, Mtu::LARGEST));
        assert_eq!(DEFAULT_MAX_UNIT, 1063);
        assert_eq!(
            DEFAULT_MAX_UNIT,
            crate::delivery::MAX_FRAME + crate::record::header::overhead(crate::Framing::Datagram)
        );
    }

    #[test]
    fn in_order() {
        let mut r = rx();
        let u = unit(40, 1);
        let f = frags(&u, Mtu::DEFAULT, 7);
        assert_eq!(push(&mut r, &f[0]), PENDING);
        assert_eq!(
            r.in_progress(),
            Some(Progress {
                number: 7,
                next_index: 1,
                received: 16,
                unit_len: 40
            })
        );
        assert_eq!(push(&mut r, &f[1]), PENDING);
        assert_eq!(
            r.in_progress().map(|p| (p.next_index, p.received)),
            Some((2, 34))
        );
        assert_eq!(push(&mut r, &f[2]), done(&u));
        assert_eq!(r.in_progress(), None);
        // And again: the state was reset.
        for (i, frag) in f.iter().enumerate() {
            let want = if i == 2 { done(&u) } else { PENDING };
            assert_eq!(push(&mut r, frag), want);
        }
    }

    /// A one-fragment unit is lent from the fragment itself; a longer one from the buffer.
    #[test]
    fn borrowing() {
        let mut r = rx();
        let one = frags(&unit(10, 2), Mtu::DEFAULT, 0).remove(0);
        let got = r.push(&one).unwrap().unit.unwrap();
        assert_eq!(got.as_ptr(), one[4..].as_ptr());
        let f = frags(&unit(30, 2), Mtu::DEFAULT, 1);
        assert!(r.push(&f[0]).unwrap().unit.is_none());
        let got = r.push(&f[1]).unwrap().unit.unwrap();
        assert_eq!(got.as_ptr(), r.buf.as_ptr());
    }

    // One test per error kind, each with the state after it.

    #[test]
    fn too_long() {
        let mut r = rx();
        let f = frags(&unit(60, 3), Mtu::new(24).unwrap(), 0); // 21-byte fragments
        assert_eq!(f[0].len(), 21);
        assert_eq!(push(&mut r, &f[0]), Got::Refused(LinkError::TooLong));
        assert_eq!(r.in_progress(), None);
        // In the middle of a unit: abandoned.
        let g = frags(&unit(60, 3), Mtu::DEFAULT, 0);
        assert_eq!(push(&mut r, &g[0]), PENDING);
        refused_then_idle(&mut r, &f[1], LinkError::TooLong, &g[1]);
        // Once the MTU is raised, the same fragments are accepted.
        r.set_mtu(Mtu::new(24).unwrap());
        for (i, frag) in f.iter().enumerate() {
            let want = if i + 1 == f.len() {
                done(&unit(60, 3))
            } else {
                PENDING
            };
            assert_eq!(push(&mut r, frag), want);
        }
        // A new reassembler takes anything up to 512 bytes.
        let mut any = Reassembler::new(DEFAULT_MAX_UNIT).unwrap();
        let big = frags(&unit(1000, 4), Mtu::LARGEST, 0);
        assert_eq!(big[0].len(), 512);
        assert_eq!(push(&mut any, &big[0]), PENDING);
        let mut over = big[1].clone();
        over.resize(513, 0);
        assert_eq!(push(&mut any, &over), Got::Refused(LinkError::TooLong));
    }

    #[test]
    fn truncated() {
        let mut r = rx();
        for short in [&[][..], &[0x00], &[0x80, 0], &[0xC0, 0, 0]] {
            assert_eq!(push(&mut r, short), Got::Refused(LinkError::Truncated));
            assert_eq!(r.in_progress(), None);
        }
        let f = frags(&unit(40, 5), Mtu::DEFAULT, 0);
        assert_eq!(push(&mut r, &f[0]), PENDING);
        refused_then_idle(&mut r, &[0x00], LinkError::Truncated, &f[1]);
    }

    #[test]
    fn start_index() {
        let mut r = rx();
        let f = frags(&unit(40, 6), Mtu::DEFAULT, 0);
        let mut bad = f[0].clone();
        bad[1] = 1;
        assert_eq!(push(&mut r, &bad), Got::Refused(LinkError::StartIndex));
        assert_eq!(r.in_progress(), None);
        assert_eq!(push(&mut r, &f[0]), PENDING);
        refused_then_idle(&mut r, &bad, LinkError::StartIndex, &f[1]);
    }

    #[test]
    fn oversized() {
        let mut r = rx();
        // Declared length 0.
        assert_eq!(
            push(&mut r, &[0xC0, 0, 0, 0]),
            Got::Refused(LinkError::Oversized)
        );
        assert_eq!(
            push(&mut r, &[0x80, 0, 0, 0, 1]),
            Got::Refused(LinkError::Oversized)
        );
        // Above max_unit (1063), before any byte of it is buffered.
        let f = frags(&unit(1064, 7), Mtu::DEFAULT, 0);
        assert_eq!(push(&mut r, &f[0]), Got::Refused(LinkError::Oversized));
        assert_eq!(push(&mut r, &f[1]), Got::Refused(LinkError::NotStarted));
        let ok = frags(&unit(1063, 7), Mtu::DEFAULT, 0);
        for (i, frag) in ok.iter().enumerate() {
            let want = if i + 1 == ok.len() {
                done(&unit(1063, 7))
            } else {
                PENDING
            };
            assert_eq!(push(&mut r, frag), want);
        }
        // Above what 256 fragments carry at the reassembler's MTU, whatever max_unit allows.
        let mut big = Reassembler::new(65535).unwrap();
        big.set_mtu(Mtu::DEFAULT);
        assert_eq!(push(&mut big, &[0x80, 0, 0x11, 0xFE, 1]), PENDING); // 4606 bytes
        assert_eq!(
            push(&mut big, &[0x80, 0, 0x11, 0xFF, 1]), // 4607
            Got::Refused(LinkError::Oversized)
        );
        assert_eq!(big.in_progress(), None, "the unit in progress is abandoned");
        big.set_mtu(Mtu::new(24).unwrap());
        assert_eq!(push(&mut big, &[0x80, 0, 0x11, 0xFF, 1]), PENDING);
        // A START fragment in the middle of a unit that fails its checks abandons that unit
        // without being kept.
        let g = frags(&unit(40, 8), Mtu::DEFAULT, 3);
        assert_eq!(push(&mut r, &g[0]), PENDING);
        refused_then_idle(&mut r, &[0x80, 0, 0, 0], LinkError::Oversized, &g[1]);
    }

    #[test]
    fn not_started() {
        let mut r = rx();
        let f = frags(&unit(60, 9), Mtu::DEFAULT, 0);
        for frag in &f[1..] {
            assert_eq!(push(&mut r, frag), Got::Refused(LinkError::NotStarted));
            assert_eq!(r.in_progress(), None);
        }
    }

    #[test]
    fn wrong_unit() {
        let mut r = rx();
        let a = frags(&unit(60, 10), Mtu::DEFAULT, 10);
        let b = frags(&unit(60, 11), Mtu::DEFAULT, 11);
        assert_eq!(push(&mut r, &a[0]), PENDING);
        refused_then_idle(&mut r, &b[1], LinkError::WrongUnit, &a[1]);
        // Numbers are compared modulo 64: 10 + 64 is unit 10.
        let c = frags(&unit(60, 10), Mtu::DEFAULT, 74);
        assert_eq!(c, a);
    }

    #[test]
    fn gap() {
        let mut r = rx();
        let f = frags(&unit(60, 12), Mtu::DEFAULT, 1);
        assert_eq!(push(&mut r, &f[0]), PENDING);
        refused_then_idle(&mut r, &f[2], LinkError::Gap, &f[1]);
    }

    /// A repeated or earlier fragment abandons the unit rather than being ignored: the
    /// reassembler keeps no copy of the fragments it took and cannot tell a harmless copy from a
    /// conflicting one (spec/LINK.md section 5.3).
    #[test]
    fn duplicate() {
        let mut r = rx();
        let f = frags(&unit(80, 13), Mtu::DEFAULT, 2);
        assert_eq!(f.len(), 5);
        assert_eq!(push(&mut r, &f[0]), PENDING);
        assert_eq!(push(&mut r, &f[1]), PENDING);
        refused_then_idle(&mut r, &f[1], LinkError::Duplicate, &f[2]);
        // An earlier fragment, not a copy of the last one.
        for frag in &f[..3] {
            assert_eq!(push(&mut r, frag), PENDING);
        }
        refused_then_idle(&mut r, &f[1], LinkError::Duplicate, &f[3]);
    }

    #[test]
    fn overrun() {
        let mut r = rx();
        // A START fragment carrying more than its declared length.
        assert_eq!(
            push(&mut r, &[0xC0, 0, 0, 1, 1, 2]),
            Got::Refused(LinkError::Overrun)
        );
        assert_eq!(
            push(&mut r, &[0x80, 0, 0, 1, 1, 2]),
            Got::Refused(LinkError::Overrun)
        );
        assert_eq!(r.in_progress(), None);
        // A later fragment running past it.
        let u = unit(40, 14);
        let f = frags(&u, Mtu::DEFAULT, 0);
        let mut long_last = f[2].clone();
        long_last.push(0);
        assert_eq!(push(&mut r, &f[0]), PENDING);
        assert_eq!(push(&mut r, &f[1]), PENDING);
        refused_then_idle(&mut r, &long_last, LinkError::Overrun, &f[2]);
        // A middle fragment longer than the sender would make (the receiver accepts it at a
        // larger MTU) brings 36 of 40 bytes; the last fragment's 6 then run past.
        let mut r = Reassembler::new(DEFAULT_MAX_UNIT).unwrap();
        let mut long_middle = f[1].clone();
        long_middle.extend([0; 2]);
        assert_eq!(push(&mut r, &f[0]), PENDING);
        assert_eq!(push(&mut r, &long_middle), PENDING);
        assert_eq!(r.in_progress().map(|p| p.received), Some(36));
        refused_then_idle(&mut r, &f[2], LinkError::Overrun, &f[2]);
    }

    #[test]
    fn incomplete() {
        let mut r = rx();
        // END before the declared length, in one fragment and in several.
        assert_eq!(
            push(&mut r, &[0xC0, 0, 0, 3, 1, 2]),
            Got::Refused(LinkError::Incomplete)
        );
        assert_eq!(r.in_progress(), None);
        let u = unit(40, 15);
        let f = frags(&u, Mtu::DEFAULT, 0);
        let mut early_end = f[1].clone();
        early_end[0] |= super::super::fragment::END;
        assert_eq!(push(&mut r, &f[0]), PENDING);
        refused_then_idle(&mut r, &early_end, LinkError::Incomplete, &f[2]);
        let mut short_last = f[2].clone();
        short_last.pop();
        assert_eq!(push(&mut r, &f[0]), PENDING);
        assert_eq!(push(&mut r, &f[1]), PENDING);
        assert_eq!(
            push(&mut r, &short_last),
            Got::Refused(LinkError::Incomplete)
        );
        assert_eq!(r.in_progress(), None);
        // Index 255 without END: no fragment can follow it.
        let mut r = Reassembler::new(1000).unwrap();
        assert_eq!(push(&mut r, &[0x80, 0, 0x03, 0xE8, 0]), PENDING);
        for index in 1..255u8 {
            assert_eq!(push(&mut r, &[0x00, index, index]), PENDING);
        }
        assert_eq!(
            push(&mut r, &[0x00, 255, 0]),
            Got::Refused(LinkError::Incomplete)
        );
        assert_eq!(r.in_progress(), None);
    }

    /// A START fragment while a unit is in progress abandons it, reports it, and is kept.
    #[test]
    fn interrupted() {
        let mut r = rx();
        let a = frags(&unit(60, 16), Mtu::DEFAULT, 0);
        let b = unit(40, 17);
        let bf = frags(&b, Mtu::DEFAULT, 1);
        assert_eq!(push(&mut r, &a[0]), PENDING);
        assert_eq!(push(&mut r, &a[1]), PENDING);
        assert_eq!(push(&mut r, &bf[0]), Got::Pending { interrupted: true });
        assert_eq!(push(&mut r, &bf[1]), PENDING);
        assert_eq!(push(&mut r, &bf[2]), done(&b));
        // A one-fragment unit is delivered by the same call that reports the interruption.
        let c = unit(5, 18);
        let cf = frags(&c, Mtu::DEFAULT, 2);
        assert_eq!(push(&mut r, &a[0]), PENDING);
        assert_eq!(
            push(&mut r, &cf[0]),
            Got::Unit {
                unit: c,
                interrupted: true
            }
        );
        // A repeated START fragment restarts the same unit, which then completes.
        let u = unit(60, 16);
        for (i, frag) in [&a[0], &a[0], &a[1], &a[2], &a[3]].into_iter().enumerate() {
            let want = match i {
                1 => Got::Pending { interrupted: true },
                4 => done(&u),
                _ => PENDING,
            };
            assert_eq!(push(&mut r, frag), want, "fragment {i}");
        }
    }

    /// The receiver takes fragments shorter than the MTU allows, even empty ones: only the sum
    /// must match the declared length.
    #[test]
    fn short_fragments() {
        let mut r = rx();
        let steps: [&[u8]; 5] = [
            &[0x81, 0, 0, 4, 1],
            &[0x01, 1],
            &[0x01, 2, 2, 3],
            &[0x01, 3, 4],
            &[0x41, 4],
        ];
        for (i, s) in steps.iter().enumerate() {
            let want = if i == 4 { done(&[1, 2, 3, 4]) } else { PENDING };
            assert_eq!(push(&mut r, s), want);
        }
        // An END fragment with no payload after a START fragment that carried everything.
        assert_eq!(push(&mut r, &[0x80, 0, 0, 2, 9, 9]), PENDING);
        assert_eq!(push(&mut r, &[0x40, 1]), done(&[9, 9]));
    }

    #[test]
    fn reset() {
        let mut r = rx();
        assert!(!r.reset());
        let f = frags(&unit(60, 19), Mtu::DEFAULT, 0);
        assert_eq!(push(&mut r, &f[0]), PENDING);
        assert!(r.reset());
        assert_eq!(push(&mut r, &f[1]), Got::Refused(LinkError::NotStarted));
    }

    /// The largest unit at MTU 23, 185 and 517 (spec/LINK.md section 4), through a reassembler
    /// that accepts it.
    #[test]
    fn largest_units() {
        for (att_mtu, largest, count) in [(23, 4606, 256), (185, 46078, 256), (517, 65535, 129)] {
            let mtu = Mtu::new(att_mtu).unwrap();
            assert_eq!(mtu.max_unit(), largest);
            let u = unit(largest, 20);
            let f = frags(&u, mtu, 63);
            assert_eq!(f.len(), count);
            assert!(f.iter().all(|f| f.len() <= mtu.max_fragment()));
            let mut r = Reassembler::new(65535).unwrap();
            r.set_mtu(mtu);
            for (i, frag) in f.iter().enumerate() {
                let want = if i + 1 == count { done(&u) } else { PENDING };
                assert_eq!(push(&mut r, frag), want);
            }
            assert!(Fragmenter::new(&unit(largest + 1, 0), mtu, 0).is_err());
        }
    }

    /// Bytes on air for a unit of `len` bytes in `n` fragments: `len + 2 + 2n` bytes of
    /// fragments, plus 3 bytes of ATT header per fragment.
    #[test]
    fn bytes_on_air() {
        let on_air = |len: usize, mtu: Mtu| -> usize {
            frags(&unit(len, 0), mtu, 0)
                .iter()
                .map(|f| f.len() + 3)
                .sum()
        };
        let m185 = Mtu::new(185).unwrap();
        // (unit, MTU, fragments, link overhead, bytes on air)
        for (len, mtu, n, link, air) in [
            (1, Mtu::DEFAULT, 1, 4, 8),
            (16, Mtu::DEFAULT, 1, 4, 23),
            (17, Mtu::DEFAULT, 2, 6, 29),
            (1063, Mtu::DEFAULT, 60, 122, 1365),
            (1063, m185, 6, 14, 1095),
            (1063, Mtu::LARGEST, 3, 8, 1080),
            (4606, Mtu::DEFAULT, 256, 514, 5888),
        ] {
            assert_eq!(mtu.fragments(len), Some(n));
            assert_eq!(link, 2 + 2 * n);
            assert_eq!(on_air(len, mtu), len + link + 3 * n, "{len} at {mtu:?}");
            assert_eq!(on_air(len, mtu), air);
        }
    }

    fn mtu_and_unit() -> impl Strategy<Value = (Mtu, Vec<u8>)> {
        (23u16..=517).prop_flat_map(|m| {
            let mtu = Mtu::new(m).unwrap();
            let f = mtu.max_fragment();
            // Lengths around fragment boundaries as often as anywhere else.
            let len = prop_oneof![
                1..=mtu.max_unit(),
                (0..8usize, 0..5usize).prop_map(move |(k, d)| {
                    (f - 4 + k * (f - 2) + d)
                        .saturating_sub(2)
                        .clamp(1, mtu.max_unit())
                }),
                Just(mtu.max_unit()),
            ];
            (
                Just(mtu),
                len.prop_flat_map(|l| proptest::collection::vec(any::<u8>(), l)),
            )
        })
    }

    /// Feeds `deliveries` and returns every unit yielded, checking the state after each error.
    fn deliver(r: &mut Reassembler, deliveries: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut units = Vec::new();
        for d in deliveries {
            match r.push(d) {
                Ok(Pushed { unit: Some(u), .. }) => units.push(u.to_vec()),
                Ok(_) => {}
                Err(Error::Link(_)) => assert_eq!(r.in_progress(), None),
                Err(e) => panic!("not a link error: {e:?}"),
            }
        }
        units
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Any unit at any MTU: fragmented, then reassembled, it is exactly the unit, and only
        /// the last fragment yields it.
        #[test]
        fn round_trip((mtu, u) in mtu_and_unit(), number in any::<u8>()) {
            let f = frags(&u, mtu, number);
            prop_assert_eq!(Some(f.len()), mtu.fragments(u.len()));
            prop_assert!(f.len() <= MAX_FRAGMENTS);
            let mut r = Reassembler::new(MAX_UNIT).unwrap();
            r.set_mtu(mtu);
            for (i, frag) in f.iter().enumerate() {
                prop_assert!(frag.len() <= mtu.max_fragment());
                let got = push(&mut r, frag);
                if i + 1 == f.len() {
                    prop_assert_eq!(got, done(&u));
                } else {
                    prop_assert_eq!(got, PENDING);
                }
            }
        }

        /// Any loss, duplication or reordering of one unit's fragments yields the unit or
        /// nothing, never other bytes; in order and complete, it yields the unit.
        #[test]
        fn one_unit_mangled(
            (mtu, u) in mtu_and_unit(),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
        ) {
            let f = frags(&u, mtu, 0);
            let order: Vec<&[u8]> = picks.iter().map(|p| &f[p.index(f.len())][..]).collect();
            let mut r = Reassembler::new(MAX_UNIT).unwrap();
            r.set_mtu(mtu);
            for got in deliver(&mut r, &order) {
                prop_assert_eq!(&got, &u);
            }
        }

        /// Several units, their fragments lost, duplicated and reordered between and within
        /// units: every unit yielded is one of them, byte for byte, and every unit whose
        /// fragments all arrive in a row, in order, is yielded.
        #[test]
        fn many_units_mangled(
            m in 23u16..=200,
            lens in proptest::collection::vec(1usize..600, 1..8),
            first_number in any::<u8>(),
            ops in proptest::collection::vec((0u8..4, any::<prop::sample::Index>()), 0..60),
        ) {
            let mtu = Mtu::new(m).unwrap();
            let units: Vec<Vec<u8>> =
                lens.iter().enumerate().map(|(i, &l)| unit(l, i as u8)).collect();
            let sent: Vec<Vec<u8>> = units
                .iter()
                .enumerate()
                .flat_map(|(i, u)| frags(u, mtu, first_number.wrapping_add(i as u8)))
                .collect();
            let mut air: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
            for (op, at) in ops {
                if air.is_empty() {
                    break;
                }
                let i = at.index(air.len());
                match op {
                    0 => { air.remove(i); }
                    1 => { let d = air[i]; air.insert(i, d); }
                    2 => { let j = (i + 1).min(air.len() - 1); air.swap(i, j); }
                    _ => { let d = air.remove(i); air.push(d); }
                }
            }
            let mut r = Reassembler::new(MAX_UNIT).unwrap();
            r.set_mtu(mtu);
            let got = deliver(&mut r, &air);
            for g in &got {
                prop_assert!(units.contains(g), "a unit that was never sent");
            }
            // A unit whose fragments arrive as one unbroken run is always yielded.
            let mut expected = 0;
            for (i, u) in units.iter().enumerate() {
                let run = frags(u, mtu, first_number.wrapping_add(i as u8));
                let run: Vec<&[u8]> = run.iter().map(Vec::as_slice).collect();
                expected += air.windows(run.len()).filter(|w| *w == &run[..]).count();
            }
            prop_assert!(got.len() >= expected);
        }

        /// Arbitrary bytes never panic; every unit yielded has its declared length, within the
        /// limits; every error leaves the reassembler idle.
        #[test]
        fn arbitrary_fragments(
            m in 23u16..=600,
            max_unit in 1usize..3000,
            fragments in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..40), 0..80),
        ) {
            let mtu = Mtu::new(m).unwrap();
            let mut r = Reassembler::new(max_unit).unwrap();
            r.set_mtu(mtu);
            let mut declared = None;
            for f in &fragments {
                let start = Fragment::parse(f).ok().and_then(|f| f.unit_len());
                match r.push(f) {
                    Ok(p) => {
                        if let Some(len) = start {
                            declared = Some(usize::from(len));
                        }
                        if let Some(u) = p.unit {
                            prop_assert_eq!(Some(u.len()), declared);
                            prop_assert!(!u.is_empty() && u.len() <= max_unit);
                            prop_assert!(u.len() <= mtu.max_unit());
                        }
                    }
                    Err(e) => {
                        prop_assert!(matches!(e, Error::Link(_)));
                        prop_assert_eq!(r.in_progress(), None);
                    }
                }
            }
        }
    }
}
