"""The organisation tree: city -> district/county -> street/township."""
