//! Any bytes → both readers of a routes file. The streaming reader serves every valid file, the
//! `Value` reader reports every problem; a file the streaming reader accepts must be accepted by
//! the `Value` reader as the same table, or the two would grant different access to the same
//! bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passthru_routes::RoutesFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(streamed) = RoutesFile::parse_streamed(data) {
        match RoutesFile::parse_located(data) {
            Ok(located) => assert_eq!(streamed, located, "the readers disagree"),
            Err(problems) => panic!("only the streaming reader accepts this file: {problems}"),
        }
    }
});
