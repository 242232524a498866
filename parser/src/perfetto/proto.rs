//! The few protobuf messages of Perfetto's trace format this exporter
//! writes, hand-encoded (field numbers from Perfetto's `perfetto_trace.proto`).

/// A protobuf message under construction.
#[derive(Debug, Default)]
pub(super) struct Msg(pub(super) Vec<u8>);

impl Msg {
    fn varint(&mut self, v: u64) {
        gort_tracer::wire::varint::write_uvarint(&mut self.0, v);
    }

    fn tag(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    /// A varint field (int32/int64/uint32/uint64/enum/bool).
    pub(super) fn uint(&mut self, field: u32, v: u64) -> &mut Msg {
        self.tag(field, 0);
        self.varint(v);
        self
    }

    /// A fixed64 field.
    pub(super) fn fixed64(&mut self, field: u32, v: u64) -> &mut Msg {
        self.tag(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A bytes or string field.
    pub(super) fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Msg {
        self.tag(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    /// An embedded message field.
    pub(super) fn msg(&mut self, field: u32, m: &Msg) -> &mut Msg {
        self.bytes(field, &m.0)
    }
}

/// `TracePacket` fields.
pub(super) mod packet {
    pub(crate) const TIMESTAMP: u32 = 8;
    pub(crate) const SEQUENCE_ID: u32 = 10;
    pub(crate) const TRACK_EVENT: u32 = 11;
    pub(crate) const SEQUENCE_FLAGS: u32 = 13;
    pub(crate) const INTERNED_DATA: u32 = 12;
    pub(crate) const TRACK_DESCRIPTOR: u32 = 60;
}

/// `TrackDescriptor` fields.
pub(super) mod track {
    pub(crate) const UUID: u32 = 1;
    pub(crate) const NAME: u32 = 2;
    pub(crate) const PROCESS: u32 = 3;
    pub(crate) const THREAD: u32 = 4;
    pub(crate) const PARENT_UUID: u32 = 5;
    pub(crate) const COUNTER: u32 = 8;
}

/// `TrackEvent` fields and types.
pub(super) mod event {
    pub(crate) const TYPE: u32 = 9;
    pub(crate) const TRACK_UUID: u32 = 11;
    pub(crate) const NAME: u32 = 23;
    pub(crate) const CATEGORIES: u32 = 22;
    pub(crate) const COUNTER_VALUE: u32 = 30;
    pub(crate) const FLOW_IDS: u32 = 47;
    pub(crate) const TERMINATING_FLOW_IDS: u32 = 48;
    pub(crate) const NAME_IID: u32 = 10;
    pub(crate) const DEBUG_ANNOTATIONS: u32 = 4;
    pub(crate) const CALLSTACK_IID: u32 = 56;
    pub(crate) const SLICE_BEGIN: u64 = 1;
    pub(crate) const SLICE_END: u64 = 2;
    pub(crate) const INSTANT: u64 = 3;
    pub(crate) const COUNTER: u64 = 4;
}

/// `InternedData` fields.
pub(super) mod interned {
    pub(crate) const EVENT_NAMES: u32 = 2;
    pub(crate) const FUNCTION_NAMES: u32 = 5;
    pub(crate) const FRAMES: u32 = 6;
    pub(crate) const CALLSTACKS: u32 = 7;
    pub(crate) const SOURCE_PATHS: u32 = 18;
}
