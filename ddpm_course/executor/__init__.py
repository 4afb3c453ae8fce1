"""What runs beside the student's code while grading: the agent that answers the checker, and the wire."""
