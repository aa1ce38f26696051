"""Edge export: TFLite conversion per mode (in subprocesses), the bundle, and the parity harness."""
