"""The server's config file: the settings (model), reading values, the file, HCL."""
