"""The browser coding workspace (`casestudy workspace`)."""
