//! Component WAT fixtures that implement the `adapter` world by hand, for what a real
//! plugin should never do: loop forever, eat memory, trap.

/// The WAT of an adapter component named `name` at `version` with one action, `run`, whose
/// core `invoke` function has `invoke_body` as its body (it must leave an i32 pointer to the
/// result area, or never return).
pub fn adapter(name: &str, version: &str, invoke_body: &str) -> String {
    format!(
        r#"(component
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (block $fits
        (br_if $fits (i32.le_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow (i32.add (i32.const 1) (i32.shr_u (global.get $bump) (i32.const 16))))))
      (local.get $p))
    (data (i32.const 256) "{name}")
    (data (i32.const 320) "{version}")
    (data (i32.const 352) "run")
    (data (i32.const 600) "{{\"ok\":true}}")
    ;; plugin-info at 0, its one action-info at 64
    (func (export "describe") (result i32)
      (i32.store (i32.const 0) (i32.const 256)) (i32.store (i32.const 4) (i32.const {name_len}))
      (i32.store (i32.const 8) (i32.const 320)) (i32.store (i32.const 12) (i32.const {version_len}))
      (i32.store (i32.const 16) (i32.const 352)) (i32.store (i32.const 20) (i32.const 0))
      (i32.store (i32.const 24) (i32.const 64)) (i32.store (i32.const 28) (i32.const 1))
      (i32.store (i32.const 32) (i32.const 0)) (i32.store (i32.const 36) (i32.const 0))
      (i32.store (i32.const 64) (i32.const 352)) (i32.store (i32.const 68) (i32.const 3))
      (i32.store (i32.const 72) (i32.const 352)) (i32.store (i32.const 76) (i32.const 0))
      (i32.store8 (i32.const 80) (i32.const 0))
      (i32.store8 (i32.const 92) (i32.const 0))
      (i32.const 0))
    ;; the result area at 512: ok(string) is tag 0, then the string at offset 8
    (func $ok (result i32)
      (i32.store8 (i32.const 512) (i32.const 0))
      (i32.store (i32.const 520) (i32.const 600)) (i32.store (i32.const 524) (i32.const 11))
      (i32.const 512))
    (func (export "invoke") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i64) (result i32)
      {invoke_body}))
  (core instance $i (instantiate $m))
  (type $action-info' (record (field "name" string) (field "description" string)
    (field "input-schema" (option string)) (field "output-schema" (option string))))
  (export $action-info "action-info" (type $action-info'))
  (type $plugin-info' (record (field "name" string) (field "version" string) (field "description" string)
    (field "actions" (list $action-info)) (field "capabilities" (list string))))
  (export $plugin-info "plugin-info" (type $plugin-info'))
  (type $invocation' (record (field "action" string) (field "input" string) (field "execution-id" string)
    (field "task-id" string) (field "attempt" u32) (field "idempotency-key" string)
    (field "deadline-ms" (option u64))))
  (export $invocation "invocation" (type $invocation'))
  (type $error-kind' (enum "invalid-input" "retryable" "fatal" "unknown-action"))
  (export $error-kind "error-kind" (type $error-kind'))
  (type $task-error' (record (field "kind" $error-kind) (field "message" string) (field "code" (option string))
    (field "details" (option string)) (field "retry-after-ms" (option u64))))
  (export $task-error "task-error" (type $task-error'))
  (func $describe (result $plugin-info)
    (canon lift (core func $i "describe") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (export "describe" (func $describe))
  (func $invoke (param "call" $invocation) (result (result string (error $task-error)))
    (canon lift (core func $i "invoke") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (export "invoke" (func $invoke))
)"#,
        name_len = name.len(),
        version_len = version.len(),
    )
}

/// `run` answers `{"ok":true}`.
pub fn ok(name: &str, version: &str) -> Vec<u8> {
    wat::parse_str(adapter(name, version, "(call $ok)")).expect("ok fixture")
}

/// `run` never returns.
pub fn endless_loop(name: &str) -> Vec<u8> {
    wat::parse_str(adapter(name, "1.0.0", "(loop $l (br $l)) (unreachable)")).expect("loop fixture")
}

/// `run` grows memory by 1 MiB at a time until it is refused, then traps.
pub fn memory_bomb(name: &str) -> Vec<u8> {
    let body = "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (unreachable)";
    wat::parse_str(adapter(name, "1.0.0", body)).expect("bomb fixture")
}

/// `run` traps at once.
pub fn trap(name: &str) -> Vec<u8> {
    wat::parse_str(adapter(name, "1.0.0", "(unreachable)")).expect("trap fixture")
}

/// A valid component that does not implement the adapter world.
pub fn other_world() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (core module $m (func (export "f") (result i32) (i32.const 7)))
            (core instance $i (instantiate $m))
            (func (export "hello") (result u32) (canon lift (core func $i "f"))))"#,
    )
    .expect("other-world fixture")
}

/// A valid core module (not a component).
pub fn core_module() -> Vec<u8> {
    wat::parse_str(r#"(module (func (export "run")))"#).expect("core module")
}

/// `run` counts its calls in linear memory and answers the count (1 to 9); called with the
/// input `null` it traps instead. A fresh instance always answers 1.
pub fn counter(name: &str) -> Vec<u8> {
    let body = r#"
      (if (i32.eq (local.get 3) (i32.const 4)) (then unreachable))
      (i32.store (i32.const 700) (i32.add (i32.load (i32.const 700)) (i32.const 1)))
      (i32.store8 (i32.const 704) (i32.add (i32.const 48) (i32.load (i32.const 700))))
      (i32.store8 (i32.const 512) (i32.const 0))
      (i32.store (i32.const 520) (i32.const 704)) (i32.store (i32.const 524) (i32.const 1))
      (i32.const 512)"#;
    wat::parse_str(adapter(name, "1.0.0", body)).expect("counter fixture")
}

/// `run` grows memory by 1 MiB at a time until it is refused, then answers `{"ok":true}`:
/// a guest that handles running out of memory.
pub fn greedy(name: &str) -> Vec<u8> {
    let body = "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (call $ok)";
    wat::parse_str(adapter(name, "1.0.0", body)).expect("greedy fixture")
}
