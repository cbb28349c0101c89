"""Incidents and the ladder 网格发现 → 社区呼叫 → 分级响应 → 协同处置."""
