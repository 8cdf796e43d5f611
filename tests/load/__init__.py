"""Load and leak tools: real Streamlit sessions over the websocket protocol, against loopback only.

    python -m tests.load.load_test     # many concurrent viewers: first chart, updates/s, CPU, RSS
    python -m tests.load.leak_check    # 500 connect/disconnect cycles: threads and RSS before/after
"""
