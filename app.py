"""GINR Studio: `streamlit run app.py`. Navigation over the pages in pages/ (pages.shared.navigation).

Streamlit runs this file as __main__. The server's worker processes are spawned, and a spawned process runs its
parent's __main__ file again, as __mp_main__: there it must import and draw nothing (a Streamlit call outside a
session logs "missing ScriptRunContext!", and the Home page would compute its embedding in every worker).
"""

if __name__ == "__main__":
    from pages.shared.navigation import run_app

    run_app()
