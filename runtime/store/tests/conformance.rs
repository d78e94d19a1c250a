//! The conformance suite (`harmonia_store::conformance`) on `MemStore`. Each backend crate
//! runs it on its own store the same way.

mod mem {
    harmonia_store::conformance_tests!(|test| test(std::sync::Arc::new(harmonia_store::MemStore::new())));
}
