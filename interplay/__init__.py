"""The application shell: settings, bootstrap, process runtime, command line."""
