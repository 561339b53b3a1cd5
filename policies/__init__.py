"""CrossGuard policies for the platform, importable so CI can evaluate them offline."""
