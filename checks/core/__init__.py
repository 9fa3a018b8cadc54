"""What every command and framework module of checks/ shares, and that imports none of them: the sine-fit
spec and its rules (sine_fit), known devices' peaks (peaks), the machine's facts (platform_facts), the
argument checks (argcheck), the measurement harness (harness), the model bench's shared shapes (models) and
published references (references), the launching side of the distributed smokes (launch), and the one
JSON report writer with its time and machine stamp (report). Standard library (and NumPy in sine_fit) only.
"""
