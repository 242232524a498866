//! Ordered reader: any bytes. No panic, no hang; every event it returns can
//! be printed, inspected, validated and summarised.
#![no_main]

use gort_parser::{Reader, Stats, Validator};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = Reader::from_slice(data) else {
        return;
    };
    let mut v = Validator::new();
    let mut st = Stats::new();
    let mut text = Vec::new();
    for ev in r {
        let Ok(ev) = ev else { break };
        text.clear();
        ev.write_go_text(&mut text);
        let _ = (ev.metric(), ev.label(), ev.range(), ev.task(), ev.region());
        let _ = (ev.log(), ev.state_transition(), ev.experimental());
        if let Some(s) = ev.stack() {
            let _ = s.frames().count();
        }
        let _ = v.event(&ev);
        st.event(&ev);
    }
    st.finish();
});
