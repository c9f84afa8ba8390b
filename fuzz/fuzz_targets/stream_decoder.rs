//! Arbitrary bytes, split at arbitrary points, through the stream decoder and into a session:
//! nothing panics, the decoder yields the same units whatever the split, and garbage never opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::*;
use tether_fuzz::Parties;

fuzz_target!(|data: &[u8]| {
    let Some((&split_seed, stream)) = data.split_first() else {
        return;
    };
    let (_, mut server) =
        Parties::session_pair_for_input(Suite::ChaChaPolyBlake2s, Framing::Stream, data);
    let cfg = *server.config();

    // Whole input at once.
    let mut whole = Vec::new();
    let mut dec = StreamDecoder::for_session_config(&cfg);
    let mut input = stream;
    while let Ok(Some(unit)) = dec.next(&mut input) {
        whole.push(unit.to_vec());
    }

    // The same bytes in chunks whose sizes follow the seed.
    let mut chunked = Vec::new();
    let mut dec = StreamDecoder::for_session_config(&cfg);
    let mut rest = stream;
    let mut size = usize::from(split_seed % 17) + 1;
    'outer: while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        size = size * 7 % 23 + 1;
        let mut input = chunk;
        loop {
            match dec.next(&mut input) {
                Ok(Some(unit)) => chunked.push(unit.to_vec()),
                Ok(None) => break,
                Err(_) => break 'outer,
            }
        }
    }
    assert_eq!(whole, chunked[..whole.len().min(chunked.len())].to_vec());

    let mut out = vec![0u8; 16384];
    for unit in &whole {
        // Random bytes cannot authenticate.
        assert!(server.open(Instant(0), unit, &mut out).is_err());
    }
});
