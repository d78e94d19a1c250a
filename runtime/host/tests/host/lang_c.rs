//! c plugins through the host: the example plugin built from source by its SDK.
