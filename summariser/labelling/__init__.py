"""`summariser label`: a page on 127.0.0.1 for labelling a dump's papers by hand, in a prompt
version's taxonomy, one keystroke per field.

session.py holds the state (papers, the labelled file, tabs, the ranking), checks.py what is
checked in the file on start, features.py the vectors the ranking uses, review.py the rows of a
run to review, server.py the HTTP server and models.py the JSON it speaks; page.html, page.js and
page.css are the page. See docs/labelling.md.
"""
