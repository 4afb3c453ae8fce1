"""Quality: the harnesses that test the course apart from the product: the bug bank and the cheat bank
(do the checks catch every known mistake and cheat?) and the benchmarks (`make bench`, `make bench-grading`)."""
