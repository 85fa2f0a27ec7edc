SKIP = 'not written yet'
