"""The live wallboard (实时监控): ringing calls, operators' states, ring-limit alerts as they happen."""
