//! Console lines over semihosting, without `core::fmt`.
//!
//! `core::fmt` (formatting machinery, padding, `Debug` of strings with its Unicode tables, and the
//! panic message) cost this example 12 KB of flash (73.4 KB with `hprintln!` and
//! panic-semihosting, 61.0 KB without), more than snow. A firmware that logs through `defmt` or a
//! line like this one does not pay for it, so neither does this example: its figures are the
//! device role's, not the printing's. `say!` assembles a line from string slices and integers in
//! a stack buffer and writes it with one semihosting call.

/// Longest line; longer ones are cut.
const LINE: usize = 160;

/// One line being assembled.
pub struct Line {
    buf: [u8; LINE],
    len: usize,
}

impl Line {
    pub const fn new() -> Self {
        Self {
            buf: [0; LINE],
            len: 0,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }

    /// Writes the line and a newline to the host's standard output.
    pub fn finish(mut self) {
        self.push(b"\n");
        let text = self.buf.get(..self.len).unwrap_or(b"\n");
        // Only ASCII and whole UTF-8 strings are pushed; a cut line may end mid-character, and
        // is then printed up to the last whole one.
        let text = match core::str::from_utf8(text) {
            Ok(s) => s,
            Err(e) => {
                core::str::from_utf8(text.get(..e.valid_up_to()).unwrap_or(b"")).unwrap_or("")
            }
        };
        cortex_m_semihosting::hprint!(text);
    }
}

/// Something `say!` can print.
pub trait Show {
    fn show(&self, line: &mut Line);
}

impl Show for str {
    fn show(&self, line: &mut Line) {
        line.push(self.as_bytes());
    }
}

impl<T: Show + ?Sized> Show for &T {
    fn show(&self, line: &mut Line) {
        (**self).show(line);
    }
}

impl Show for usize {
    fn show(&self, line: &mut Line) {
        let mut digits = [0u8; 10];
        let mut n = *self;
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                // Truncation intended: a decimal digit.
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        line.push(digits.get(i..).unwrap_or(b"?"));
    }
}

impl Show for u32 {
    fn show(&self, line: &mut Line) {
        (*self as usize).show(line);
    }
}

/// Prints one line: `say!("a ", 12, " b")`.
#[macro_export]
macro_rules! say {
    ($($part:expr),* $(,)?) => {
        $crate::out::say(&[$( &$part as &dyn $crate::out::Show ),*])
    };
}

/// Assembles and prints one line. Not inlined: one line buffer on the stack, whatever the
/// number of `say!` calls in a function.
#[inline(never)]
pub fn say(parts: &[&dyn Show]) {
    let mut line = Line::new();
    for part in parts {
        part.show(&mut line);
    }
    line.finish();
}
