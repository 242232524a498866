//! The `select!` macro (crossbeam-channel's grammar, Go's semantics).
#![deny(unsafe_code)]

/// Waits on several channel operations and runs the arm of the one that
/// completes (Go's `select`).
///
/// ```text
/// select! {
///     recv(rx) -> v => { ... },          // v: Option<T>; None once closed and drained
///     send(tx, value) -> res => { ... }, // res: Result<(), SendError<T>>
///     default => { ... },                // optional: taken when no case is ready
/// }
/// ```
///
/// A receive operand is a `Receiver<T>` (by value, so that
/// `recv(gort::time::after(d))` works, or by reference) or an
/// `Option<&Receiver<T>>`; a send operand is a `&Sender<T>` or an
/// `Option<&Sender<T>>`. `None` is Go's nil channel: never ready. A send's
/// value is evaluated once, before the select; it is dropped unless its
/// case is chosen.
///
/// Among the cases ready at once, one is chosen uniformly at random; a
/// closed channel is ready. Without `default` the select blocks until a
/// case completes; exactly one does. `select! {}` blocks forever, as Go's
/// `select {}`. Operands are borrowed only while the select waits: an arm
/// may reassign them (setting an operand to `None` after its channel
/// closed is the usual way to stop selecting on it).
///
/// Arms whose body is a block take an optional trailing comma; other arms
/// are separated by commas.
///
/// ```
/// gort_runtime::run(|| {
///     let (tx, rx) = gort_runtime::chan::<u32>(1);
///     let (_quit_tx, quit_rx) = gort_runtime::chan::<()>(0);
///     tx.send(5).unwrap();
///     let got = gort_runtime::select! {
///         recv(rx) -> v => v,
///         recv(quit_rx) -> _ => None,
///     };
///     assert_eq!(got, Some(5));
/// });
/// ```
///
/// # Panics
/// Outside a goroutine and outside a thread, never: a select on a plain
/// thread blocks that thread, as channel operations do there.
#[macro_export]
macro_rules! select {
    // `select! {}`: Go's `select {}`.
    () => {
        $crate::__select::__block_forever()
    };

    // ---- parsing: one arm at a time into [cases] [default] ----
    // A block body: a comma after it is optional. Two rules, the comma's
    // first: `$(,)? $($rest:tt)*` would be ambiguous on a comma.
    (@parse [$($cases:tt)*] [$($def:tt)*]
        recv($rx:expr) -> $p:pat => $body:block, $($rest:tt)*) => {
        $crate::select!(@parse [$($cases)* (recv __case __out __operand ($rx) $p $body)]
            [$($def)*] $($rest)*)
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        recv($rx:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::select!(@parse [$($cases)* (recv __case __out __operand ($rx) $p $body)]
            [$($def)*] $($rest)*)
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        recv($rx:expr) -> $p:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse [$($cases)* (recv __case __out __operand ($rx) $p $body)]
            [$($def)*] $($($rest)*)?)
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        send($tx:expr, $v:expr) -> $p:pat => $body:block, $($rest:tt)*) => {
        $crate::select!(@parse [$($cases)* (send __case __out __operand ($tx, $v) $p $body)]
            [$($def)*] $($rest)*)
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        send($tx:expr, $v:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::select!(@parse [$($cases)* (send __case __out __operand ($tx, $v) $p $body)]
            [$($def)*] $($rest)*)
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        send($tx:expr, $v:expr) -> $p:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse [$($cases)* (send __case __out __operand ($tx, $v) $p $body)]
            [$($def)*] $($($rest)*)?)
    };
    (@parse [$($cases:tt)*] [] default => $body:block, $($rest:tt)*) => {
        $crate::select!(@parse [$($cases)*] [$body] $($rest)*)
    };
    (@parse [$($cases:tt)*] [] default => $body:block $($rest:tt)*) => {
        $crate::select!(@parse [$($cases)*] [$body] $($rest)*)
    };
    (@parse [$($cases:tt)*] [] default => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse [$($cases)*] [$body] $($($rest)*)?)
    };
    (@parse [$($cases:tt)*] [$($def:tt)+] default $($rest:tt)*) => {
        ::core::compile_error!("select!: more than one `default` arm")
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]) => {
        $crate::select!(@emit [$($cases)*] [$($def)*])
    };
    (@parse [$($cases:tt)*] [$($def:tt)*] $($rest:tt)+) => {
        ::core::compile_error!(::core::concat!(
            "select!: expected `recv(rx) -> v => body`, `send(tx, value) -> res => body` ",
            "or `default => body`, found: `", ::core::stringify!($($rest)+), "`"
        ))
    };

    // ---- code: bind the cases, run the select, drop the cases, dispatch ----
    (@emit [$(($kind:ident $case:ident $out:ident $op:ident $args:tt $p:tt $body:tt))*]
        [$($def:tt)*]) => {{
        // The cases live (and borrow their operands) only in this block: the
        // arms run after it, free to reassign the operands.
        let ($($out,)*) = {
            $( $crate::select!(@bind $kind $case $op $args); )*
            let _ = $crate::__select::__select_fixed(
                [$($case.case(),)*],
                $crate::select!(@blocks [$($def)*]),
            );
            ($($case.take_outcome(),)*)
        };
        $crate::select!(@dispatch [$(($out $p $body))*] [$($def)*])
    }};

    (@bind recv $case:ident $op:ident ($rx:expr)) => {
        let $op = &$rx;
        let $case = $crate::__select::RecvCase::new($crate::__select::RecvOperand::__receiver($op));
    };
    (@bind send $case:ident $op:ident ($tx:expr, $v:expr)) => {
        let $op = &$tx;
        let $case =
            $crate::__select::SendCase::new($crate::__select::SendOperand::__sender($op), $v);
    };

    (@blocks []) => { true };
    (@blocks [$def:tt]) => { false };

    (@dispatch [($out:ident $p:tt $body:tt) $($rest:tt)*] [$($def:tt)*]) => {
        if let ::core::option::Option::Some(__value) = $out {
            let $p = __value;
            $body
        } else {
            $crate::select!(@dispatch [$($rest)*] [$($def)*])
        }
    };
    (@dispatch [] []) => {
        ::core::unreachable!("select!: a blocking select returned with no case chosen")
    };
    (@dispatch [] [$def:tt]) => {
        $def
    };

    // The entry point, last so that the internal rules above match first.
    ($($arms:tt)+) => {
        $crate::select!(@parse [] [] $($arms)+)
    };
}
