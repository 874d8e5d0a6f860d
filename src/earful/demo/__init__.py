"""The bundled demo: made-up brands and a generated, realistic corpus."""
