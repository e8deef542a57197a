"""Documents generated from the code: reference pages, the AsyncAPI document, CLI reference."""
